import DbgPlatform
import DbgWire
#if canImport(Glibc)
import Glibc
#endif

/// The client's end of a serial line: a thread runs the link engine between the line (a
/// local device, or a serial port server's TCP connection: SerialCarrier) and one end of
/// a socketpair; the other end is what AgentConnection reads and writes, so the rest of
/// the client works over a serial line as over TCP.
final class SerialBridge: @unchecked Sendable {
    /// How long unacknowledged data may wait, or the agent may stay silent after being
    /// asked to answer, before it is given up on (the connection then breaks).
    static let giveUpMs: Int64 = 30_000
    /// A line quiet for this long gets a keepalive (an ACK asking for an answer).
    static let keepaliveMs: Int64 = 10_000

    /// The line's name in messages.
    let path: String
    /// AgentConnection's end of the socketpair.
    let connectionEnd: Int32
    private let bridgeEnd: Int32
    private let line: SerialCarrier
    private var engine: LinkEngine
    private var toConnection: [UInt8] = []
    private let opened = Signal()
    private let done = Signal()
    private let lock = Lock()
    private var counters = LinkEngine.Counters()
    private var progressAt: Int64 = 0
    private var linkOpen = false
    private var endReason: String?

    /// Opens the line and starts a fresh link with the agent (its earlier sessions on
    /// this line end); waits up to `timeoutSeconds` for the agent's answer.
    init(line: SerialCarrier, baud: Int, timeoutSeconds: Int) throws(ClientError) {
        self.line = line
        path = line.name
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            line.close()
            throw .connect("socketpair: \(describe(errno))")
        }
        connectionEnd = ends[0]
        bridgeEnd = ends[1]
        _ = fcntl(bridgeEnd, F_SETFL, fcntl(bridgeEnd, F_GETFL) | O_NONBLOCK)
        engine = LinkEngine(role: .client, baud: baud)
        var nonce: UInt32 = 0
        while nonce == 0 { nonce = UInt32.random(in: 1...UInt32.max) }
        engine.open(nonce: nonce, now: SerialBridge.now())
        startThread { [self] in run() }
        guard opened.wait(seconds: timeoutSeconds), lock.withLock({ linkOpen }) else {
            shutdown(connectionEnd, Int32(SHUT_RDWR))
            throw .connect("no answer from an agent on \(path) at \(baud) baud within \(timeoutSeconds) s")
        }
    }

    /// After the connection's end was closed: waits (bounded) until the last bytes are
    /// acknowledged and CLOSE has gone out, so the agent ends this client's connection
    /// now rather than at the next client's reset.
    func waitUntilClosed(timeoutSeconds: Int) {
        _ = done.wait(seconds: timeoutSeconds)
    }

    /// Why the link ended, when it was not the connection closing normally.
    var failure: String? { lock.withLock { endReason } }

    private func end(_ reason: String) { lock.withLock { endReason = reason } }

    /// What the link has counted so far (packets, drops, retransmissions).
    var linkCounters: LinkEngine.Counters { lock.withLock { counters } }

    /// Whether the link moved data on (new data from the agent, or ours acknowledged)
    /// within the last `milliseconds`: a link retransmitting through noise or a loaded
    /// host is slow, not gone, and its connection should go on waiting for an answer.
    func movedOn(withinMs milliseconds: Int64) -> Bool {
        SerialBridge.now() - lock.withLock { progressAt } < milliseconds
    }

    static func now() -> Int64 { MonotonicClock.milliseconds() }

    /// The link thread: until the connection's end closes or the agent is lost.
    private func run() {
        defer {
            line.close()
            Glibc.close(bridgeEnd)
            opened.raise()  // an open that never happened stops waiting
            done.raise()
        }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        var connectionClosed = false
        let openedAt = SerialBridge.now()
        var lastKeepalive = openedAt
        while true {
            let now = SerialBridge.now()
            var wanted: [pollfd] = [pollfd(fd: line.fd, events: Int16(POLLIN), revents: 0)]
            let lineBusy = !engine.lineOutput(now: now).isEmpty || line.hasPendingOutput
            if lineBusy { wanted[0].events |= Int16(POLLOUT) }
            var bridgeEvents: Int16 = 0
            if !connectionClosed && engine.outboundRoom > 0 { bridgeEvents |= Int16(POLLIN) }
            if !toConnection.isEmpty { bridgeEvents |= Int16(POLLOUT) }
            wanted.append(pollfd(fd: bridgeEnd, events: bridgeEvents, revents: 0))
            // While output waits for the tty, its room is what matters (a deadline already
            // due would otherwise make this loop spin).
            let wait = lineBusy ? 1000 : engine.nextDeadline().map { Int32(clamping: max(0, $0 - now)) } ?? 1000
            _ = poll(&wanted, 2, min(wait, 1000))
            let tick = SerialBridge.now()

            // Line → engine.
            while true {
                let got = buffer.withUnsafeMutableBytes { line.read(into: $0) }
                if got <= 0 {
                    if got == 0 || (errno != EAGAIN && errno != EINTR) {
                        return end("\(path): the device went away (\(got == 0 ? "hung up" : describe(errno)))")
                    }
                    break
                }
                let events = buffer.withUnsafeBytes { engine.receive(UnsafeRawBufferPointer(rebasing: $0[0..<got]), now: tick) }
                for event in events {
                    switch event {
                    case .opened:
                        lock.withLock {
                            linkOpen = true
                            progressAt = tick
                        }
                        opened.raise()
                    case .peerLost: return end("\(path): the agent does not know this link any more (it restarted)")
                    case .closed: return  // the connection sees end of file
                    case .reset: break
                    }
                }
            }
            // Engine → connection.
            while true {
                if toConnection.isEmpty {
                    let got = buffer.withUnsafeMutableBytes { engine.readInbound(into: $0) }
                    if got == 0 { break }
                    toConnection = Array(buffer[0..<got])
                }
                let sent = toConnection.withUnsafeBytes { send(bridgeEnd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if sent <= 0 { break }
                toConnection.removeFirst(sent)
            }
            // Connection → engine.
            while !connectionClosed, engine.outboundRoom > 0 {
                let room = min(buffer.count, engine.outboundRoom)
                let got = buffer.withUnsafeMutableBytes { recv(bridgeEnd, $0.baseAddress, room, 0) }
                if got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR) {
                    connectionClosed = true
                    break
                }
                if got < 0 { break }
                _ = buffer.withUnsafeBytes { engine.writeOutbound(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            }
            if connectionClosed && engine.isIdle {
                engine.close()
                flushLine(deadline: tick + 500)
                return
            }
            // Engine → line.
            if !flushLine(deadline: tick) { return end("\(path): writing to the device failed: \(describe(errno))") }
            lock.withLock {
                counters = engine.counters
                progressAt = max(progressAt, engine.lastProgress)
            }
            if let since = engine.unacknowledgedSince, tick - since > SerialBridge.giveUpMs {
                return end("\(path): the agent stopped acknowledging (\(SerialBridge.giveUpMs / 1000) s)")
            }
            // A quiet line: ask the agent to answer now and then; no answer for long means
            // the board is gone, as TCP keepalive would tell.
            let quiet = tick - max(engine.lastReceived, openedAt)
            if quiet > SerialBridge.giveUpMs {
                return end("\(path): the agent stopped answering (\(SerialBridge.giveUpMs / 1000) s)")
            }
            if quiet > SerialBridge.keepaliveMs && tick - lastKeepalive > SerialBridge.keepaliveMs {
                engine.requestAnswer()
                lastKeepalive = tick
            }
        }
    }

    /// Writes pending line bytes; with a deadline in the future, waits for the line until
    /// then. False when the device failed.
    @discardableResult
    private func flushLine(deadline: Int64) -> Bool {
        while true {
            let now = SerialBridge.now()
            guard line.flush() else { return false }
            let output = engine.lineOutput(now: now)
            if output.isEmpty { return true }
            let written = line.write(output)
            if written < 0 {
                guard errno == EAGAIN || errno == EINTR else { return false }
                guard now < deadline else { return true }
                var wait = pollfd(fd: line.fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&wait, 1, 50)
                continue
            }
            engine.lineWritten(written, now: now)
            if written < output.count && now >= deadline { return true }
        }
    }
}
