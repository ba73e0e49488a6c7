import DbgClient
import DbgWire
import Foundation
import Testing

/// A TCP server on 127.0.0.1 whose connections `serve` handles, each on a thread.
final class LoopbackServer: @unchecked Sendable {
    let fd: Int32
    let port: UInt16

    init(_ serve: @escaping @Sendable (Int32) -> Void) throws {
        (fd, port) = try listenOnLoopback()
        let listener = fd
        Thread.detachNewThread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                Thread.detachNewThread { serve(connection) }
            }
        }
    }

    func stop() { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    /// A connection to 127.0.0.1:`port`.
    static func connect(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw AgentProcessError("cannot connect to 127.0.0.1:\(port)")
        }
        return fd
    }

    /// Writes all of `bytes` (false when the peer went away).
    static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            offset += count
        }
        return true
    }

    /// Reads until the end; returns what came.
    static func readAll(_ fd: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { return all }
            all += buffer[0..<count]
        }
    }
}

/// Forwarded streams as a test drives them through raw frames: events sorted per stream.
final class StreamDriver {
    let session: LoggedIn
    private(set) var received: [UInt32: [UInt8]] = [:]
    private(set) var credit: [UInt32: Int] = [:]
    private(set) var ended: Set<UInt32> = []
    private(set) var closed: [UInt32: Dbg.StreamClosedEvent] = [:]
    private(set) var accepted: [Dbg.StreamAcceptedEvent] = []
    private(set) var errors: [ClientError] = []

    init(_ session: LoggedIn) { self.session = session }

    var connection: AgentConnection { session.connection }
    var token: WireBytes { WireBytes(session.token) }

    func connect(_ address: String, window: UInt32 = 1 << 20) throws -> UInt32 {
        let opened: Dbg.StreamOpened = try connection.call(
            service: ServiceID.dbg, op: Dbg.Op.streamConnect.rawValue,
            Dbg.StreamConnectRequest(token: token, address: WireBytes(address), window: window), other: handle)
        credit[opened.streamID] = Int(opened.window)
        return opened.streamID
    }

    func listen(_ address: String, window: UInt32 = 1 << 20) throws -> Dbg.StreamListening {
        try connection.call(service: ServiceID.dbg, op: Dbg.Op.streamListen.rawValue,
                            Dbg.StreamListenRequest(token: token, address: WireBytes(address), window: window), other: handle)
    }

    func send(_ stream: UInt32, _ bytes: [UInt8]) throws {
        try connection.send(service: ServiceID.dbg, op: Dbg.Op.streamSend.rawValue, id: 0,
                            Dbg.StreamSendRequest(token: token, streamID: stream, data: WireBytes(bytes)))
        credit[stream, default: 0] -= bytes.count
    }

    func acknowledge(_ stream: UInt32, _ count: Int) throws {
        try connection.send(service: ServiceID.dbg, op: Dbg.Op.streamAck.rawValue, id: 0,
                            Dbg.StreamAckRequest(token: token, streamID: stream, bytes: UInt32(count)))
    }

    func close(_ stream: UInt32, abort: Bool = false) throws {
        try connection.send(service: ServiceID.dbg, op: Dbg.Op.streamClose.rawValue, id: 0,
                            Dbg.StreamCloseRequest(token: token, streamID: stream, abort: abort))
    }

    /// A Ping answered: every frame sent before it has been handled and its events read.
    func barrier() throws { try connection.barrier(handle) }

    func read(timeout: TimeInterval = 30, until done: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !done() {
            guard Date() < deadline else { throw AgentProcessError("timed out; received \(received.mapValues { $0.count })") }
            handle(try connection.receive())
        }
    }

    func handle(_ frame: ReceivedFrame) {
        guard frame.header.kind == .event else {
            if let error = try? frame.remoteError() { errors.append(error) }
            return
        }
        switch Dbg.Event(rawValue: frame.header.op) {
        case .streamReceived:
            if let data = try? frame.decode(Dbg.StreamData.self) { received[data.streamID, default: []] += data.data.bytes }
        case .streamCredit:
            if let given = try? frame.decode(Dbg.StreamCreditEvent.self) { credit[given.streamID, default: 0] += Int(given.bytes) }
        case .streamEnded:
            if let ref = try? frame.decode(Dbg.StreamRef.self) { ended.insert(ref.streamID) }
        case .streamClosed:
            if let event = try? frame.decode(Dbg.StreamClosedEvent.self) { closed[event.streamID] = event }
        case .streamAccepted:
            if let event = try? frame.decode(Dbg.StreamAcceptedEvent.self) { accepted.append(event) }
        default:
            break
        }
    }
}

/// The error a call ends with (nil when it succeeded).
private func failure(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite("Forwarding", .needs("forward"))
struct ForwardingTests {
    @Test("the agent sends no more than the client's window until acknowledged; StreamSend beyond its window is refused")
    func windows() throws {
        let payload = patternBytes(1 << 20)
        let server = try LoopbackServer { fd in
            _ = LoopbackServer.write(fd, payload)
            _ = LoopbackServer.readAll(fd)
            close(fd)
        }
        defer { server.stop() }
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = StreamDriver(try fixture.login(agent))
        let stream = try driver.connect("tcp:127.0.0.1:\(server.port)", window: 4096)
        try driver.read { driver.received[stream]?.count == 4096 }
        Thread.sleep(forTimeInterval: 0.3)
        try driver.barrier()
        #expect(driver.received[stream]?.count == 4096, "nothing beyond the window before an acknowledgement")
        try driver.acknowledge(stream, 4096)
        try driver.read { driver.received[stream]?.count == 8192 }
        try driver.barrier()
        #expect(driver.received[stream]! == Array(payload[0..<8192]))

        // StreamSend: the window (128 KiB) is refused one byte beyond, and nothing of it
        // is written.
        let window = driver.credit[stream]!
        #expect(window == 128 << 10)
        try driver.send(stream, [UInt8](repeating: 1, count: window + 1))
        try driver.read { !driver.errors.isEmpty }
        #expect(driver.errors[0].description.contains("exceed the window of 131072"))
        try driver.acknowledge(stream, 1 << 24)
        try driver.read { !driver.errors.dropFirst().isEmpty }
        #expect(driver.errors[1].description.contains("StreamAck: 16777216 bytes more than were sent"))
    }

    @Test("half-closes each way: the peer reads end of file after the bytes; StreamEnded, then StreamClosed")
    func halfClose() throws {
        let server = try LoopbackServer { fd in
            let got = LoopbackServer.readAll(fd)  // until the stream's StreamClose
            _ = LoopbackServer.write(fd, Array("got \(got.count)".utf8))
            close(fd)
        }
        defer { server.stop() }
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = StreamDriver(try fixture.login(agent))
        let stream = try driver.connect("tcp:127.0.0.1:\(server.port)")
        let sent = patternBytes(300_000)
        var offset = 0
        while offset < sent.count {
            try driver.read { driver.credit[stream]! > 0 }
            let count = min(driver.credit[stream]!, sent.count - offset, 64 << 10)
            try driver.send(stream, Array(sent[offset..<(offset + count)]))
            offset += count
        }
        try driver.close(stream)
        try driver.read { driver.ended.contains(stream) && driver.closed[stream] != nil }
        #expect(String(decoding: driver.received[stream] ?? [], as: UTF8.self) == "got 300000")
        #expect(driver.closed[stream]?.errno == 0)
        #expect(driver.errors.isEmpty)
        // A late one-way request for the stream is dropped without an answer.
        try driver.send(stream, [1])
        try driver.barrier()
        #expect(driver.errors.isEmpty)
        #expect(agent.waitForLine(timeout: 5) { $0.hasSuffix("forward: user runner: stream \(stream) to tcp:127.0.0.1:\(server.port)") } != nil)
        #expect(agent.waitForLine(timeout: 5) { $0.contains("closed: 300000 bytes to it, 10 from it") } != nil)
    }

    @Test("a reset peer ends the stream with its errno; Logout resets streams and closes listeners")
    func resetsAndLogout() throws {
        let server = try LoopbackServer { fd in
            var linger = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            Thread.sleep(forTimeInterval: 0.2)
            close(fd)  // a reset
        }
        defer { server.stop() }
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = StreamDriver(try fixture.login(agent))
        let stream = try driver.connect("tcp:127.0.0.1:\(server.port)")
        try driver.read { driver.closed[stream] != nil }
        #expect(driver.closed[stream]?.errno == ECONNRESET)
        #expect(driver.closed[stream]?.message.string.contains("Connection reset by peer") == true)

        let listening = try driver.listen("tcp:0")
        let port = UInt16(listening.address.string.split(separator: ":").last!)!
        let peer = try LoopbackServer.connect(port)
        defer { close(peer) }
        try driver.read { !driver.accepted.isEmpty }
        #expect(driver.accepted[0].listenerID == listening.listenerID && driver.accepted[0].peer.string.hasPrefix("tcp:127.0.0.1:"))
        try driver.connection.logout(token: driver.session.token)
        // Listener closed: a new connection is refused.
        #expect(failure { close(try LoopbackServer.connect(port)) } != nil)
    }

    @Test("a client that stops reading: the stream's end and its bytes wait without the agent spinning; all arrive later")
    func stalledClient() throws {
        let payload = patternBytes(8 << 20)
        let server = try LoopbackServer { fd in
            _ = LoopbackServer.write(fd, payload)
            close(fd)  // end of file at once: the stream's end must wait for room too
        }
        defer { server.stop() }
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = StreamDriver(try fixture.login(agent))
        let stream = try driver.connect("tcp:127.0.0.1:\(server.port)", window: 16 << 20)
        let before = cpuSeconds(of: agent.pid)
        Thread.sleep(forTimeInterval: 2)  // nothing read: the transmit buffer and the socket fill
        let used = cpuSeconds(of: agent.pid) - before
        #expect(used < 0.5, "the agent used \(used) s of CPU while its client read nothing")
        try driver.read { driver.ended.contains(stream) }
        #expect(driver.received[stream]! == payload)
    }

    @Test("refused with a reason: bad addresses and windows, names, privileged ports, Unix listeners, others' streams, the limit")
    func refusals() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-forwards", "1"])
        let driver = StreamDriver(try fixture.login(agent))
        let cases: [(String, UInt32, String)] = [
            ("tcp:board.example:80", 65536, "not a numeric IPv4 address (names are not looked up on the board)"),
            ("udp:1.2.3.4:5", 65536, "expected tcp:PORT, tcp:HOST:PORT or unix:PATH"),
            ("tcp:127.0.0.1:0", 65536, "port 0 is not a port to connect to"),
            ("unix:", 65536, "a Unix socket's path is 1 to 107 bytes"),
            ("tcp:127.0.0.1:1", 100, "Window: must be from 4096 to 16777216 bytes, not 100"),
            ("tcp:127.0.0.1:1", 65536, "tcp:127.0.0.1:1: Connection refused"),
            ("unix:/nonexistent/x.sock", 65536, "no such file or directory: /nonexistent/x.sock"),
        ]
        for (address, window, message) in cases {
            let error = failure { _ = try driver.connect(address, window: window) }
            #expect(error?.contains(message) == true, "\(address): \(error ?? "no error")")
        }
        if CommandFixture.isRoot {
            let error = failure { _ = try driver.listen("tcp:127.0.0.1:80") }
            #expect(error?.contains("ports below 1024 are root's to listen on") == true, "\(error ?? "")")
        }
        #expect(failure { _ = try driver.listen("unix:/tmp/x.sock") }?.contains("the board listens on TCP only") == true)
        let error = failure {
            let _: Empty = try driver.connection.call(service: ServiceID.dbg, op: Dbg.Op.streamUnlisten.rawValue,
                                                      Dbg.ListenerRef(token: driver.token, listenerID: 99))
        }
        #expect(error?.contains("no listener with ListenerID 99") == true)

        // The limit: one stream at a time here.
        let server = try LoopbackServer { fd in _ = LoopbackServer.readAll(fd); close(fd) }
        defer { server.stop() }
        let first = try driver.connect("tcp:127.0.0.1:\(server.port)")
        let busy = failure { _ = try driver.connect("tcp:127.0.0.1:\(server.port)") }
        #expect(busy?.contains("all forwarded streams or listeners are in use") == true)
        // Another session may not use it.
        let other = StreamDriver(try fixture.login(agent))
        let denied = failure {
            let _: Empty = try other.connection.call(service: ServiceID.dbg, op: Dbg.Op.streamSend.rawValue,
                                                     Dbg.StreamSendRequest(token: other.token, streamID: first, data: WireBytes([1])))
        }
        #expect(denied?.contains("no stream with StreamID") == true)
        try driver.close(first, abort: true)
        try driver.barrier()
        _ = try driver.connect("tcp:127.0.0.1:\(server.port)")  // the slot is free again
    }
}
