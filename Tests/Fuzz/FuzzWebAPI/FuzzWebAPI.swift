// libFuzzer target: the HTTP front end whole (seed 003), in process. The input's bytes
// reach a real HTTPFrontEnd through a socket pair in pieces the input chooses; with the
// first byte odd, a valid WebSocket handshake with a live session's token comes first,
// so that frames, messages and calls are reached too (with its top bit set too, the
// channel protocol's at /wsv2/TOKEN, so that Commands are: only as root, where the
// session's user is uid 65534, because its files service acts on real paths as that
// user; run as anyone else it would act as the fuzzer's own user; forwarding is off, so
// a proxy channel connects nowhere). Whatever comes, the agent answers
// with HTTP/1.1 heads or server frames and never traps. The session's user has no home,
// so a call fails before any process starts (nothing the fuzzer writes is run).
import CSys
@testable import DbgAgent
import DbgWire

// libFuzzer calls from one thread; the front end lives for the process.
nonisolated(unsafe) private let setUp: (HTTPFrontEnd, [UInt8])? = {
    var config = AgentConfig()
    config.http.connections = 2
    config.distroRoot = "/nonexistent-fuzz-distro"
    // A proxy channel's connect is refused: the fuzzer's bytes never reach real sockets.
    config.forwarding = false
    guard let loop = try? EventLoop(), let timer = try? DeadlineTimer(),
          let core = try? ServiceCore(config: config, timer: timer, loop: loop),
          let distro = try? DistroService(config: config, core: core),
          let http = try? HTTPFrontEnd(config: config, core: core, listeners: []) else { return nil }
    Agent.add(distro, to: http)
    let user = AuthenticatedUser(account: UserAccount(name: "fuzz", uid: 65534, gid: 65534, home: "/nonexistent-fuzz-home",
                                                      shell: "/bin/false"), pam: nil)
    guard let session = core.sessions.open(for: user, on: http.sessionHolder) else { return nil }
    return (http, session.token)
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebAPI(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0, let (http, token) = setUp else { return 0 }
    let piece = Int((data[0] >> 1) % 64) + 1
    var input: [UInt8] = []
    if data[0] & 1 == 1 {
        let target = data[0] & 0x80 != 0 && geteuid() == 0 ? "/wsv2/" : "/api/v1/ws/?token="
        input = Array(("GET " + target + String(decoding: token, as: UTF8.self) + " HTTP/1.1\r\nHost: b\r\n"
            + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").utf8)
    }
    input += UnsafeBufferPointer(start: data + 1, count: size - 1)
    var ends: [Int32] = [-1, -1]
    guard csys_socketpair(&ends) == 0 else { return 0 }
    _ = csys_set_nonblocking(ends[1])
    guard http.adopt(FileDescriptor(ends[0]), peer: SocketAddress(), slot: 0) else {
        _ = close(ends[1])
        return 0
    }
    var offset = 0
    var answer: [UInt8] = []
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
    defer { scratch.deallocate() }
    for _ in 0..<(input.count / piece + 64) {
        if offset < input.count {
            let count = min(piece, input.count - offset)
            let wrote = input.withUnsafeBytes { write(ends[1], $0.baseAddress! + offset, count) }
            if wrote > 0 { offset += wrote }
            if offset == input.count { _ = shutdown(ends[1], Int32(CSYS_SHUT_WR)) }
        }
        guard http.connections[0].isOpen else { break }
        http.serve(0, readable: true)
        let got = read(ends[1], scratch.baseAddress, scratch.count)
        if got > 0 && answer.count < 1 << 20 { answer += scratch.prefix(got) }
        if offset == input.count && !http.connections[0].isOpen { break }
    }
    if http.connections[0].isOpen { http.close(0, reason: "fuzz input done") }
    _ = close(ends[1])
    // The first thing said is always an HTTP/1.1 status line.
    if !answer.isEmpty { precondition(answer.starts(with: Array("HTTP/1.1 ".utf8))) }
    return 0
}
