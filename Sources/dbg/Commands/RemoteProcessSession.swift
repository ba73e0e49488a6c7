import DbgClient
import DbgWire
import Glibc

/// How a started process is reached: dbg's Process* ops and events, or distro's Run*
/// (the same layouts).
struct RemoteProcessChannel: @unchecked Sendable {
    let service: UInt32
    let stdoutEvent: UInt16
    let stderrEvent: UInt16
    let creditEvent: UInt16
    let exitEvent: UInt16
    let input: ([UInt8]) throws(ClientError) -> Void
    let closeInput: () throws(ClientError) -> Void
    let signal: (Int32) throws(ClientError) -> Void
    let resize: (Int64, Int64) throws(ClientError) -> Void

    static func dbg(_ connection: AgentConnection, token: String, process: UInt32) -> RemoteProcessChannel {
        RemoteProcessChannel(
            service: ServiceID.dbg, stdoutEvent: Dbg.Event.processStdout.rawValue, stderrEvent: Dbg.Event.processStderr.rawValue,
            creditEvent: Dbg.Event.processInputCredit.rawValue, exitEvent: Dbg.Event.processExit.rawValue,
            input: { data throws(ClientError) in try connection.processInput(token: token, process: process, data) },
            closeInput: { () throws(ClientError) in try connection.closeProcessInput(token: token, process: process) },
            signal: { number throws(ClientError) in try connection.signalProcess(token: token, process: process, signal: number) },
            resize: { rows, cols throws(ClientError) in
                try connection.resizeProcess(token: token, process: process, rows: rows, cols: cols)
            })
    }

    static func distro(_ connection: AgentConnection, process: UInt32) -> RemoteProcessChannel {
        RemoteProcessChannel(
            service: ServiceID.distro, stdoutEvent: Distro.Event.runStdout.rawValue, stderrEvent: Distro.Event.runStderr.rawValue,
            creditEvent: Distro.Event.runInputCredit.rawValue, exitEvent: Distro.Event.runExit.rawValue,
            input: { data throws(ClientError) in try connection.distroRunInput(process: process, data) },
            closeInput: { () throws(ClientError) in try connection.distroCloseRunInput(process: process) },
            signal: { number throws(ClientError) in try connection.distroSignalRun(process: process, signal: number) },
            resize: { rows, cols throws(ClientError) in try connection.distroResizeRun(process: process, rows: rows, cols: cols) })
    }
}

/// A started streaming process wired to the local stdin, stdout and stderr until it
/// exits, as `ssh host command` is: output byte for byte, stdin within the agent's
/// window, signals forwarded.
final class RemoteProcessSession: @unchecked Sendable {
    let connection: AgentConnection
    let channel: RemoteProcessChannel
    let process: UInt32
    let terminal: Bool
    let what: String
    let timeoutSeconds: Int32
    /// Input the agent will take now (its window, less what is in flight).
    private var credit: Int
    private var finished = false
    private let condition = Condition()
    /// One sender at a time on the connection (the input thread, signal handlers).
    private let sendLock = Lock()
    private var lastInterrupt: Int64?

    init(connection: AgentConnection, channel: RemoteProcessChannel, started: ProcessStarted, terminal: Bool, what: String,
         timeoutSeconds: Int32) {
        self.connection = connection
        self.channel = channel
        process = started.processID
        credit = Int(started.inputWindow)
        self.terminal = terminal
        self.what = what
        self.timeoutSeconds = timeoutSeconds
    }

    /// Relays until the process exits; returns the status dbg exits with (128+N for
    /// signal N, 124 after the agent's timeout).
    func run(forwardInput: Bool) throws -> Int32 {
        let raw = terminal && Terminal.stdinIsTerminal ? LocalTerminal.makeRaw() : nil
        defer { raw?.restore() }
        if terminal && Terminal.stdinIsTerminal {
            SignalWatcher.on(SIGWINCH) { [self] in
                let (rows, cols) = LocalTerminal.size()
                send { () throws(ClientError) in try channel.resize(rows, cols) }
            }
        }
        // Ctrl-C, kill and a hang-up of dbg reach the remote process; a second Ctrl-C
        // within a second kills it. (With a raw terminal, Ctrl-C is a keystroke instead.)
        SignalWatcher.on(SIGINT) { [self] in interrupted() }
        for number in [SIGTERM, SIGHUP, SIGQUIT] {
            SignalWatcher.on(number) { [self] in forward(number) }
        }
        if forwardInput {
            startThread { [self] in forwardStandardInput() }
        } else {
            send(channel.closeInput)
        }
        let exit = try attempt(what) {
            try connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in try relayEvents() }
        }
        condition.withLock {
            finished = true
            condition.broadcast()
        }
        raw?.restore()
        if exit.timedOut {
            Terminal.error("dbg: " + what + ": timed out after " + String(timeoutSeconds) + " s (--timeout)")
            return 124
        }
        return Int32(truncatingIfNeeded: exit.exitCode)
    }

    /// stdout and stderr to the local ones, credits to the input thread, until the exit.
    private func relayEvents() throws(ClientError) -> ProcessExitEvent {
        while true {
            let exit: ProcessExitEvent? = try connection.receive { (header, payload) throws(ClientError) in
                guard header.kind == .event, header.service == channel.service else {
                    try ReceivedFrame.throwIfError(header, payload)
                    return nil
                }
                switch header.op {
                case channel.stdoutEvent, channel.stderrEvent:
                    let data = try ReceivedFrame.decode(header, payload, as: ProcessData.self)
                    guard data.processID == process else { return nil }
                    let (fd, name): (Int32, String) = header.op == channel.stdoutEvent ? (1, "stdout") : (2, "stderr")
                    do throws(ClientError) {
                        try data.data.withUnsafeBytes { (bytes) throws(ClientError) in try writeAll(fd, bytes, to: name) }
                    } catch where errno == EPIPE {
                        // Whoever read our output is gone (dbg exec -- cat log | head): end
                        // quietly as a local program would by SIGPIPE; the agent then hangs
                        // the remote process up.
                        return ProcessExitEvent(processID: process, exitCode: 128 + Int64(SIGPIPE), signal: SIGPIPE,
                                                coreDumped: false, timedOut: false)
                    }
                case channel.creditEvent:
                    let given = try ReceivedFrame.decode(header, payload, as: ProcessCredit.self)
                    guard given.processID == process else { return nil }
                    condition.withLock {
                        credit += Int(given.bytes)
                        condition.broadcast()
                    }
                case channel.exitEvent:
                    let exit = try ReceivedFrame.decode(header, payload, as: ProcessExitEvent.self)
                    return exit.processID == process ? exit : nil
                default:
                    break
                }
                return nil
            }
            if let exit { return exit }
        }
    }

    /// Copies stdin to the process as the window allows, then ends its input (unless a
    /// terminal is being typed into: that ends with the session).
    private func forwardStandardInput() {
        var buffer = [UInt8](repeating: 0, count: 128 << 10)
        while true {
            let room: Int? = condition.withLock {
                while credit == 0 && !finished { condition.wait() }
                return finished ? nil : credit
            }
            guard let room else { return }
            let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, min($0.count, room)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            condition.withLock { credit -= count }
            let chunk = Array(buffer[0..<count])
            guard send({ () throws(ClientError) in try channel.input(chunk) }) else { return }
        }
        if !(terminal && Terminal.stdinIsTerminal) { send(channel.closeInput) }
    }

    private func interrupted() {
        let now = MonotonicClock.nanoseconds()
        let again = lastInterrupt.map { now - $0 < 1_000_000_000 } ?? false
        lastInterrupt = now
        forward(again ? SIGKILL : SIGINT)
    }

    private func forward(_ number: Int32) {
        send { () throws(ClientError) in try channel.signal(number) }
    }

    @discardableResult
    private func send(_ body: () throws(ClientError) -> Void) -> Bool {
        sendLock.withLock { (try? body()) != nil }
    }
}
