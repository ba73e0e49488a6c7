import DbgPlatform
import DbgWire
import Glibc

/// A frame as received by the client: the header and an owned copy of the payload.
public struct ReceivedFrame: Sendable {
    public let header: FrameHeader
    public let payload: [UInt8]

    /// Decodes the payload; fields are copies, so the value outlives the frame.
    public func decode<M: WireCodable>(_: M.Type = M.self) throws(ClientError) -> M {
        let result = payload.withUnsafeBytes { raw in
            Result { () throws(ClientError) in try ReceivedFrame.decode(header, raw, as: M.self) }
        }
        return try result.get()
    }

    /// The error this frame carries, if it is an error frame.
    public func remoteError() throws(ClientError) -> ClientError? {
        guard header.kind == .error else { return nil }
        let payload = try decode(ErrorPayload.self)
        return .remote(code: payload.code, errno: payload.errno, message: payload.message.string)
    }

    /// Decodes a payload where it lies (a `receive` body's); fields are copies.
    /// `inPlace`: its bytes fields are views into `payload` (valid while it is).
    public static func decode<M: WireCodable>(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer,
                                              as _: M.Type = M.self, inPlace: Bool = false) throws(ClientError) -> M {
        do throws(WireError) {
            return try M.decode(payload: payload, copyingBytes: !inPlace)
        } catch {
            throw .malformed("op 0x\(hex(UInt32(header.op), digits: 4)): \(error.message)")
        }
    }

    /// Throws the error an error frame carries, where it lies; other frames pass.
    public static func throwIfError(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) throws(ClientError) {
        guard header.kind == .error else { return }
        let error = try decode(header, payload, as: ErrorPayload.self)
        throw .remote(code: error.code, errno: error.errno, message: error.message.string)
    }
}

/// A blocking connection to an agent. One thread may send while another receives
/// (pipelining); each direction has its own buffer.
public final class AgentConnection: @unchecked Sendable {
    public let target: AgentTarget
    /// The socket (over TLS: the TCP socket the records go through).
    private var fd: Int32
    /// The largest payload this side accepts.
    public let maxPayload: UInt32
    private var sendBuffer: [UInt8]
    private var receiveBuffer: [UInt8]
    private var receiveStart = 0
    private var receiveEnd = 0
    private var nextID: UInt32 = 1
    /// Through a connection master: the prefix its ids carry (the master routes by it).
    private var idPrefix: UInt32 = 0
    /// On a serial line: the link thread behind `fd`.
    private let serial: SerialBridge?
    /// Over TLS: the session, whose records the sending and receiving threads make and
    /// read themselves; nil once a poller took the descriptor (`descriptor`).
    private var tls: TLSChannel?
    /// Over TLS: the board key's fingerprint.
    public private(set) var boardKey: String?
    /// Over TLS: the client showed its key, so an empty password asks for a key login.
    public private(set) var showedClientKey = false

    /// Connects; `timeoutSeconds` also bounds every later read and write. `localAddress`
    /// picks the numeric source address of a TCP connection (tests use 127.0.0.x to be
    /// different peers).
    /// `tls` decides whether to trust the board's key of a `tls://` target.
    public init(
        _ target: AgentTarget, timeoutSeconds: Int = 30, maxPayload: UInt32 = 16 << 20, localAddress: String? = nil,
        tls: TLSTrust? = nil
    ) throws(ClientError) {
        self.target = target
        self.maxPayload = maxPayload
        boardKey = nil
        if case .tls(let host, let port) = target {
            guard let tls else { throw .usage("\(target.description): no way to check the board's key was given") }
            serial = nil
            let network = try connectTCP(host: host, port: port, timeoutSeconds: timeoutSeconds, localAddress: localAddress,
                                         name: target.description)
            setTCPOptions(network)
            let channel = try TLSChannel(network: network, name: target.description, trust: tls, timeoutSeconds: timeoutSeconds)
            self.tls = channel
            fd = network
            boardKey = channel.fingerprint
            showedClientKey = tls.clientKey != nil
            setTimeouts(fd, timeoutSeconds)
        } else if let (line, baud) = try SerialCarrier.open(target, timeoutSeconds: timeoutSeconds) {
            let bridge = try SerialBridge(line: line, baud: baud, timeoutSeconds: timeoutSeconds)
            serial = bridge
            fd = bridge.connectionEnd
            setTimeouts(fd, timeoutSeconds)
        } else if case .mdns(let name) = target {
            // Found on the link first (within the timeout, at most 5 s), then reached over TCP.
            serial = nil
            let board = try MDNSBrowser.find(name, seconds: Double(min(timeoutSeconds, 5)))
            let host = board.addresses[0]
            fd = try connectTCP(host: host, port: board.port, timeoutSeconds: timeoutSeconds, localAddress: localAddress,
                                name: "\(board.name) (\(AgentTarget.tcp(host: host, port: board.port).description))")
            configureTCP(fd, timeoutSeconds)
        } else {
            serial = nil
            fd = try openSocket(target, timeoutSeconds: timeoutSeconds, localAddress: localAddress)
        }
        sendBuffer = []
        receiveBuffer = [UInt8](repeating: 0, count: 64 << 10)
    }

    /// A connection through the connection master listening at `socket` (its owner was
    /// checked by the caller), for `target`: no login, the master's session comes with
    /// its greeting.
    public init(master socket: String, for target: AgentTarget, timeoutSeconds: Int = 30,
                maxPayload: UInt32 = 16 << 20) throws(ClientError) {
        self.target = target
        self.maxPayload = maxPayload
        serial = nil
        boardKey = nil
        fd = try openSocket(.unix(path: socket), timeoutSeconds: timeoutSeconds, localAddress: nil)
        sendBuffer = []
        receiveBuffer = [UInt8](repeating: 0, count: 64 << 10)
        let greeting = try receive()
        guard greeting.header.service == ConnectionMaster.service, greeting.header.op == ConnectionMaster.greetingOp,
              greeting.header.id >> ConnectionMaster.prefixShift != 0, greeting.header.id & ConnectionMaster.idMask == 0 else {
            throw .malformed("\(socket) is not a dbg connection master")
        }
        idPrefix = greeting.header.id
        masterSession = try greeting.decode(Dbg.SessionInfo.self)
    }

    /// Through a connection master: the session it is logged in with.
    public private(set) var masterSession: Dbg.SessionInfo?

    deinit {
        if tls == nil { Glibc.close(fd) }  // else the channel closes it, after close_notify
        serial?.waitUntilClosed(timeoutSeconds: 2)
    }

    /// The socket, for a caller that polls it and reads and writes it as it is (a
    /// connection master, tests that misbehave on purpose). Over TLS, a thread takes over
    /// the session from then on, behind a socketpair whose end this is.
    public var descriptor: Int32 {
        get throws(ClientError) {
            guard let channel = tls else { return fd }
            let timeouts = (timeoutMs(SO_RCVTIMEO), timeoutMs(SO_SNDTIMEO))
            fd = try channel.bridge()
            tls = nil
            setTimeouts(fd, receiveMs: timeouts.0, sendMs: timeouts.1)
            return fd
        }
    }

    /// On a serial line: what the client's side of the link has counted.
    public var linkCounters: LinkEngine.Counters? { serial?.linkCounters }

    public func makeID() -> UInt32 {
        let last = idPrefix == 0 ? UInt32.max : ConnectionMaster.idMask
        defer { nextID = nextID == last ? 1 : nextID + 1 }
        return idPrefix | nextID
    }

    /// Encodes and sends one request frame.
    public func send<M: WireCodable>(service: UInt32, op: UInt16, id: UInt32, _ message: M) throws(ClientError) {
        let header = FrameHeader(kind: .request, service: service, op: op, id: id)
        var size = 0
        while true {
            let encoded = sendBuffer.withUnsafeMutableBytes { raw in
                Result { () throws(WireError) in try header.encodeFrame(message, into: raw) }
            }
            do throws(WireError) {
                size = try encoded.get()
                break
            } catch {
                guard case .noRoom = error, sendBuffer.count < FrameHeader.size + Int(Int32.max) else {
                    throw .malformed(error.message)
                }
                sendBuffer = [UInt8](repeating: 0, count: max(4096, sendBuffer.count * 2))
            }
        }
        try sendAll(sendBuffer[0..<size])
    }

    /// Sends bytes as they are (for tests of malformed input).
    public func sendRaw(_ bytes: some Collection<UInt8>) throws(ClientError) {
        try sendAll(Array(bytes)[...])
    }

    /// Waits for the next frame of any kind.
    public func receive() throws(ClientError) -> ReceivedFrame {
        try receive { header, payload in ReceivedFrame(header: header, payload: Array(payload)) }
    }

    /// Waits for the next frame and hands `body` its payload in place (valid only during
    /// the call): for bulk transfers that should not copy.
    public func receive<R>(_ body: (FrameHeader, UnsafeRawBufferPointer) throws(ClientError) -> R) throws(ClientError) -> R {
        try fill(FrameHeader.size)
        let header = receiveBuffer.withUnsafeBytes {
            FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[receiveStart..<receiveStart + FrameHeader.size]))
        }
        if let violation = header.violation(maxPayload: maxPayload) { throw .malformed("agent sent \(violation.message)") }
        let total = FrameHeader.size + Int(header.length)
        try fill(total)
        let start = receiveStart + FrameHeader.size
        receiveStart += total
        let result = receiveBuffer.withUnsafeBytes { raw in
            Result { () throws(ClientError) in try body(header, UnsafeRawBufferPointer(rebasing: raw[start..<(start + total - FrameHeader.size)])) }
        }
        return try result.get()
    }

    /// Sends a request and waits for its answer; an error frame becomes `.remote`.
    /// Frames with other ids (events, pipelined answers) are passed to `other`.
    public func call<Request: WireCodable, Response: WireCodable>(
        service: UInt32, op: UInt16, _ request: Request, expecting _: Response.Type = Response.self,
        other: (ReceivedFrame) -> Void = { _ in }
    ) throws(ClientError) -> Response {
        let id = makeID()
        try send(service: service, op: op, id: id, request)
        while true {
            let frame = try receive()
            guard frame.header.id == id, frame.header.kind == .response || frame.header.kind == .error else {
                if frame.header.kind == .error, frame.header.id == 0, let error = try frame.remoteError() {
                    throw error  // the agent is ending the connection (Busy, Timeout)
                }
                other(frame)
                continue
            }
            if let error = try frame.remoteError() { throw error }
            return try frame.decode(Response.self)
        }
    }

    public func hello(client: String) throws(ClientError) -> Control.HelloResponse {
        try call(service: ServiceID.control, op: Control.Op.hello.rawValue,
                 Control.HelloRequest(version: Control.protocolVersion, maxFrame: maxPayload, client: WireBytes(client)))
    }

    public func ping(_ data: [UInt8] = []) throws(ClientError) -> [UInt8] {
        let echo: Control.Ping = try call(service: ServiceID.control, op: Control.Op.ping.rawValue,
                                          Control.Ping(data: WireBytes(data)))
        return echo.data.bytes
    }

    public func authenticate(user: String, password: String) throws(ClientError) -> Dbg.SessionInfo {
        try call(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue,
                 Dbg.AuthRequest(username: WireBytes(user), password: WireBytes(password)))
    }

    public func logout(token: String) throws(ClientError) {
        let _: Empty = try call(service: ServiceID.dbg, op: Dbg.Op.logout.rawValue, Dbg.SessionToken(token: WireBytes(token)))
    }

    /// Opens an interactive shell; its output comes as ShellOutput events (see `receive`).
    public func openShell(token: String, cwd: String = "", rows: Int64 = 0, cols: Int64 = 0) throws(ClientError) -> UInt32 {
        let session: ShellSession = try call(service: ServiceID.dbg, op: Dbg.Op.shellOpen.rawValue,
                                             Dbg.ShellOpenRequest(token: WireBytes(token), cwd: WireBytes(cwd), rows: rows, cols: cols))
        return session.sessionID
    }

    /// Sends keystrokes one-way (id 0): failures come back as error frames with id 0.
    public func shellInput(token: String, shell: UInt32, _ data: [UInt8]) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.shellInput.rawValue, id: 0,
                 Dbg.ShellInputRequest(token: WireBytes(token), sessionID: shell, data: WireBytes(data)))
    }

    public func resizeShell(token: String, shell: UInt32, rows: Int64, cols: Int64) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.shellResize.rawValue, id: 0,
                 Dbg.ShellResizeRequest(token: WireBytes(token), sessionID: shell, rows: rows, cols: cols))
    }

    public func closeShell(token: String, shell: UInt32) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.shellClose.rawValue, id: 0,
                 Dbg.ShellCloseRequest(token: WireBytes(token), sessionID: shell))
    }

    /// Runs `body` with a different limit on how long an answer may take (a Hash of a
    /// large file takes longer than other requests); 0 waits as long as it takes.
    public func withAnswerTimeout<R>(seconds: Int, _ body: () throws(ClientError) -> R) throws(ClientError) -> R {
        var saved = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &saved, &length)
        var longer = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &longer, socklen_t(MemoryLayout<timeval>.size))
        defer { setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &saved, socklen_t(MemoryLayout<timeval>.size)) }
        return try body()
    }

    /// How long a receive (SO_RCVTIMEO) or a send (SO_SNDTIMEO) waits, in milliseconds.
    private func timeoutMs(_ option: Int32) -> Int64 {
        var current = timeval()
        var length = socklen_t(MemoryLayout<timeval>.size)
        getsockopt(fd, SOL_SOCKET, option, &current, &length)
        return Int64(current.tv_sec) * 1000 + Int64(current.tv_usec) / 1000
    }

    /// Half-closes: the agent sees end of input but can still answer.
    public func shutdownSending() {
        if let tls { tls.close() } else { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    // MARK: I/O

    private func sendAll(_ bytes: ArraySlice<UInt8>) throws(ClientError) {
        var sent = 0
        let count = bytes.count
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            while sent < count {
                let rest = UnsafeRawBufferPointer(rebasing: raw[sent...])
                let n = tls?.send(rest) ?? Glibc.send(fd, rest.baseAddress!, rest.count, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    // A serial link still moving on is slow, not gone (as in `fill`).
                    if errno == EAGAIN, let serial, serial.movedOn(withinMs: timeoutMs(SO_SNDTIMEO)) { continue }
                    return errno
                }
                sent += n
            }
            return nil
        }
        if let failure { throw .io("sending to \(target.description) failed: \(describe(failure))") }
    }

    /// Reads until `count` unread bytes are buffered. Each read takes all the buffer
    /// holds (several frames of a bulk transfer), and the unread bytes move to the front
    /// only when what is asked for would not fit behind them; the buffer grows to twice
    /// the largest frame so that such a move is rare.
    private func fill(_ count: Int) throws(ClientError) {
        if receiveEnd - receiveStart >= count { return }
        if receiveBuffer.count - receiveStart < count {
            if receiveBuffer.count < count {
                receiveBuffer.append(contentsOf: [UInt8](repeating: 0, count: 2 * count - receiveBuffer.count))
            }
            receiveBuffer.withUnsafeMutableBytes { raw in
                raw.baseAddress!.copyMemory(from: raw.baseAddress! + receiveStart, byteCount: receiveEnd - receiveStart)
            }
            receiveEnd -= receiveStart
            receiveStart = 0
        }
        while receiveEnd - receiveStart < count {
            let end = receiveEnd
            let n = receiveBuffer.withUnsafeMutableBytes { raw in
                tls?.receive(into: UnsafeMutableRawBufferPointer(rebasing: raw[end...])) ?? recv(fd, raw.baseAddress! + end, raw.count - end, 0)
            }
            if n > 0 {
                receiveEnd += n
            } else if n == 0 {
                throw .io(serial?.failure ?? "\(target.description) closed the connection")
            } else if errno != EINTR {
                let code = errno
                if code == EAGAIN || code == EWOULDBLOCK {
                    // Over a serial line the wait is for the link to stop moving on, not
                    // for bytes of the answer (which may wait behind a lost packet).
                    if let serial, serial.movedOn(withinMs: timeoutMs(SO_RCVTIMEO)) { continue }
                    throw .io("timed out waiting for \(target.description)")
                }
                throw .io("receiving from \(target.description) failed: \(tls?.failure ?? describe(code))")
            }
        }
    }
}

func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

/// A TCP connection to HOST:PORT (to an agent, or to a serial port server); failures
/// name it as `name`.
func connectTCP(host: String, port: UInt16, timeoutSeconds: Int, localAddress: String?, name: String) throws(ClientError) -> Int32 {
    do throws(TCPConnection.Failure) {
        return try TCPConnection.connect(host: host, port: port, timeoutMs: Int32(clamping: timeoutSeconds * 1000),
                                         localAddress: localAddress)
    } catch {
        switch error {
        case .resolve(let reason): throw .connect("cannot resolve '\(host)': \(reason)")
        case .connect(let failure): throw .connect("cannot connect to \(name): \(describe(failure.code))")
        }
    }
}

private func openSocket(_ target: AgentTarget, timeoutSeconds: Int, localAddress: String?) throws(ClientError) -> Int32 {
    switch target {
    case .serial, .networkSerial, .mdns, .tls:
        preconditionFailure("serial lines go through SerialBridge, TLS through TLSBridge, mdns: is resolved first")
    case .unix(let path):
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .usage("unix socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .connect("socket: \(describe(errno))") }
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .connect("cannot connect to \(target.description): \(describe(code))")
        }
        setTimeouts(fd, timeoutSeconds)
        return fd
    case .tcp(let host, let port):
        let fd = try connectTCP(host: host, port: port, timeoutSeconds: timeoutSeconds, localAddress: localAddress,
                                name: target.description)
        configureTCP(fd, timeoutSeconds)
        return fd
    }
}

/// A connected agent socket: blocking, bounded by the socket's timeouts, TCP options set.
private func configureTCP(_ fd: Int32, _ timeoutSeconds: Int) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    setTimeouts(fd, timeoutSeconds)
    setTCPOptions(fd)
}

private func setTimeouts(_ fd: Int32, _ seconds: Int) {
    setTimeouts(fd, receiveMs: Int64(seconds) * 1000, sendMs: Int64(seconds) * 1000)
}

private func setTimeouts(_ fd: Int32, receiveMs: Int64, sendMs: Int64) {
    for (option, ms) in [(SO_RCVTIMEO, receiveMs), (SO_SNDTIMEO, sendMs)] {
        var timeout = timeval(tv_sec: Int(ms / 1000), tv_usec: Int(ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, option, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// No delay for small frames; keepalive probes so that a board that vanished (power cut,
/// cable pulled) ends waits that have no time limit (shells, long commands) within ~30 s.
private func setTCPOptions(_ fd: Int32) {
    let size = socklen_t(MemoryLayout<Int32>.size)
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, size)
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, size)
    for (option, value) in [(TCP_KEEPIDLE, 15), (TCP_KEEPINTVL, 5), (TCP_KEEPCNT, 3)] {
        var value = Int32(value)
        setsockopt(fd, Int32(IPPROTO_TCP), option, &value, size)
    }
}

