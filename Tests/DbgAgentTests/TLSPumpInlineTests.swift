import CSys
import CTLS
@testable import DbgPlatform
import Testing

/// The inline calls an agent connection (and dbg's AgentConnection) makes and reads
/// records with, between a real client and server engine over a socketpair: bytes both
/// ways through small and odd buffers, the gathering filling up, and close_notify.
@Suite("TLSPump inline: records made and read by the caller")
struct TLSPumpInlineTests {
    /// One end: its engine and staging, and its socket (non-blocking).
    final class End {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: ctls_session_size(), alignment: 16)
        let staging: UnsafeMutableRawBufferPointer
        let pump: TLSPump
        let socket: Int32

        init(socket: Int32, readAhead: Int) {
            staging = .allocate(byteCount: TLSPump.stagingSize(readAhead: readAhead, bridged: false), alignment: 16)
            pump = TLSPump(engine: OpaquePointer(memory), staging: staging, readAhead: readAhead, bridged: false)
            self.socket = socket
        }

        deinit {
            memory.deallocate()
            staging.deallocate()
            _ = close(socket)
        }

        /// Sends `bytes` as far as the socket takes them; how many were taken.
        func send(_ bytes: UnsafeRawBufferPointer) -> Int {
            let taken = pump.encrypt(bytes) ?? 0
            pump.seal()
            _ = pump.gatherRecords()
            while pump.hasGatheredRecords, case .moved = pump.writeGathered(network: socket) {}
            return taken
        }

        /// What arrived, decrypted through a buffer of `chunk` bytes.
        func receive(chunk: Int, into received: inout [UInt8]) -> TLSPump.Decrypted {
            var buffer = [UInt8](repeating: 0, count: chunk)
            while true {
                let step = buffer.withUnsafeMutableBytes { pump.decrypted(into: $0) }
                switch step {
                case .bytes(let count): received += buffer[0..<count]
                case .needsNetwork:
                    guard case .moved = pump.readAhead(network: socket) else { return step }
                case .needsSending, .closed:
                    return step
                }
            }
        }
    }

    static func connectedPair() throws -> (client: End, server: End) {
        var ends: [Int32] = [-1, -1]
        try #require(csys_socketpair(&ends) == 0)
        let client = End(socket: ends[0], readAhead: 256 << 10)
        let server = End(socket: ends[1], readAhead: 128 << 10)
        let secret = [UInt8](repeating: 0x42, count: 32)
        let key = try #require(TLSKey(secret: secret, name: "test"))
        let certificate = key.certificate.der
        try #require(ctls_server_start(server.pump.engine, certificate, certificate.count, secret) == 0)
        try #require(ctls_client_start(client.pump.engine, nil, 0, nil) == 0)
        var done = (false, false)
        for _ in 0..<200 where !(done.0 && done.1) {
            if !done.0, case .established = client.pump.pump(network: client.socket, bridge: -1, nowMs: 0) { done.0 = true }
            if !done.1, case .established = server.pump.pump(network: server.socket, bridge: -1, nowMs: 0) { done.1 = true }
        }
        try #require(done.0 && done.1, "the handshake did not finish")
        return (client, server)
    }

    @Test("3 MiB each way through 1,000-byte and 7-byte buffers, arriving whole and in order; close_notify ends both")
    func bytesBothWays() throws {
        let (client, server) = try Self.connectedPair()
        let upload = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
        let download = Array(upload.reversed())
        var uploaded = 0, downloaded = 0
        var atServer: [UInt8] = [], atClient: [UInt8] = []
        for _ in 0..<100_000 where atServer.count < upload.count || atClient.count < download.count {
            uploaded += upload.withUnsafeBytes { client.send(UnsafeRawBufferPointer(rebasing: $0[uploaded...])) }
            downloaded += download.withUnsafeBytes { server.send(UnsafeRawBufferPointer(rebasing: $0[downloaded...])) }
            _ = server.receive(chunk: 1000, into: &atServer)
            _ = client.receive(chunk: atClient.count < 4096 ? 7 : 1000, into: &atClient)
        }
        #expect(atServer == upload)
        #expect(atClient == download)
        #expect(!server.pump.holdsInput && !client.pump.holdsInput)

        client.pump.close()
        _ = client.send(UnsafeRawBufferPointer(start: nil, count: 0))
        var ending: TLSPump.Decrypted = .needsNetwork
        for _ in 0..<100 {
            ending = server.receive(chunk: 1000, into: &atServer)
            if case .needsSending = ending { _ = server.send(UnsafeRawBufferPointer(start: nil, count: 0)) }
            if case .closed = ending { break }
        }
        guard case .closed(let failure) = ending else { Issue.record("the server did not see close_notify: \(ending)"); return }
        #expect(failure == nil)
        #expect(server.pump.holdsInput, "a closed session is input epoll does not report")
        #expect(server.pump.encrypt(UnsafeRawBufferPointer(start: nil, count: 0)) == nil)
    }
}
