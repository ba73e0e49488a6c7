// libFuzzer target: TLS from an untrusted peer. The input is what the network delivers
// to the agent's end of a handshake (ClientHello, a client certificate that our key
// capture decodes, key exchange, records), then, from its first byte on, to a client's
// end (ServerHello, the board's certificate). Each engine runs through TLSPump over
// socketpairs until it ends or stops moving; the agent's end also through the inline
// calls an agent connection makes and reads records with. Also the authorized_keys
// line reader.
@testable import DbgAgent
import CSys
import CTLS
import DbgPlatform

private let secret = [UInt8](repeating: 0x42, count: 32)
private let key = TLSKey(secret: secret, name: "fuzz")!
nonisolated(unsafe) private let memory = UnsafeMutableRawPointer.allocate(byteCount: ctls_session_size(), alignment: 16)
private let readAhead = 64 << 10
nonisolated(unsafe) private let staging = UnsafeMutableRawBufferPointer.allocate(
    byteCount: TLSPump.stagingSize(readAhead: readAhead, bridged: true), alignment: 16)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLS(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let certificate = key.certificate.der
    let engine = OpaquePointer(memory)
    if ctls_server_start(engine, certificate, certificate.count, secret) == 0 { run(engine, input) }
    if ctls_client_start(engine, certificate, certificate.count, secret) == 0 { run(engine, input) }
    if ctls_server_start(engine, certificate, certificate.count, secret) == 0 { runInline(engine, input) }
    var start = 0
    for index in 0...size where index == size || data[index] == 0x0a {
        _ = AuthorizedKeys.firstWord(of: UnsafeRawBufferPointer(rebasing: input[start..<index]))
        start = index + 1
    }
    return 0
}

/// The engine between two socketpairs: `input` arrives on the network side, in one go.
private func run(_ engine: OpaquePointer, _ input: UnsafeRawBufferPointer) {
    var network: [Int32] = [-1, -1]
    var bridge: [Int32] = [-1, -1]
    guard csys_socketpair(&network) == 0 else { return }
    guard csys_socketpair(&bridge) == 0 else {
        network.forEach { FileDescriptor($0).close() }
        return
    }
    defer { (network + bridge).forEach { FileDescriptor($0).close() } }
    _ = try? FileDescriptor(network[1]).write(input)
    _ = CSys.shutdown(network[1], CSYS_SHUT_WR)
    let pump = TLSPump(engine: engine, staging: staging, readAhead: readAhead, bridged: true)
    var scratch = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<64 {
        if case .ended = pump.pump(network: network[0], bridge: bridge[0], nowMs: 0) { return }
        // Drain what the engine sent, so it never waits on a full socket.
        while scratch.withUnsafeMutableBytes({ (try? FileDescriptor(network[1]).read(into: $0)) ?? 0 }) > 0 {}
        while scratch.withUnsafeMutableBytes({ (try? FileDescriptor(bridge[1]).read(into: $0)) ?? 0 }) > 0 {}
    }
}

/// The engine driven as an agent connection drives the one the relay lent it: the
/// read-ahead, decrypting into a buffer, and the records it must send.
private func runInline(_ engine: OpaquePointer, _ input: UnsafeRawBufferPointer) {
    var network: [Int32] = [-1, -1]
    guard csys_socketpair(&network) == 0 else { return }
    defer { network.forEach { FileDescriptor($0).close() } }
    _ = try? FileDescriptor(network[1]).write(input)
    _ = CSys.shutdown(network[1], CSYS_SHUT_WR)
    let pump = TLSPump(engine: engine, staging: staging, readAhead: readAhead, bridged: true)
    var plain = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<64 {
        switch plain.withUnsafeMutableBytes({ pump.decrypted(into: $0) }) {
        case .bytes: continue
        case .closed: return
        case .needsNetwork:
            guard case .moved = pump.readAhead(network: network[0]) else { return }
        case .needsSending:
            _ = pump.gatherRecords()
            guard case .moved = pump.writeGathered(network: network[0]) else { return }
            while plain.withUnsafeMutableBytes({ (try? FileDescriptor(network[1]).read(into: $0)) ?? 0 }) > 0 {}
        }
    }
}
