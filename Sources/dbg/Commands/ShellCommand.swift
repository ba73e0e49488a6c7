import DbgClient
import DbgWire
import Glibc

struct Shell: Command {
    static let spec = CommandSpec(
        name: "shell",
        abstract: "An interactive login shell on the board; exits with the shell's status.",
        discussion: """
            With stdin a terminal, the local terminal goes raw for the session (and is always put \
            back); its size follows the local window. Otherwise, as with ssh, the login shell reads \
            stdin as its script, without a terminal, and exits with its status at the end: \
            dbg shell < script.sh.
            """,
        options: [.option("cwd", nil, "DIR", "Working directory on the board (default: the user's home).")])

    let agent: AgentOptions
    let cwd: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        cwd = arguments.value("cwd") ?? ""
    }

    func run() throws {
        let login = try agent.login()
        guard Terminal.stdinIsTerminal else {
            // A script on stdin: the login shell reads it from a pipe, as sshd runs it. On a
            // terminal, the shell's line editor would switch modes (flushing what was typed
            // ahead, the end of file included) and query the cursor into the output.
            let shell = login.session.shell.isEmpty ? "/bin/sh" : login.session.shell.string
            var spec = AgentConnection.ProcessSpec()
            spec.argv = [Array(shell.utf8), Array("-l".utf8)]
            spec.cwd = cwd
            let token = login.token.string
            let started = try attempt("shell") { () throws(ClientError) in try login.connection.startProcess(token: token, spec) }
            let session = RemoteProcessSession(connection: login.connection,
                                               channel: .dbg(login.connection, token: token, process: started.processID),
                                               started: started, terminal: false, what: "shell", timeoutSeconds: 0)
            throw ExitCode(try session.run(forwardInput: true))
        }
        let (rows, cols) = LocalTerminal.size()
        let token = login.token.string
        let connection = login.connection
        let shell = try attempt("shell") { try connection.openShell(token: token, cwd: cwd, rows: rows, cols: cols) }
        try ShellSession(
            connection: connection, shell: shell, outputEvent: Dbg.Event.shellOutput.rawValue,
            exitEvent: Dbg.Event.shellExit.rawValue,
            input: { data throws(ClientError) in try connection.shellInput(token: token, shell: shell, data) },
            resize: { rows, cols throws(ClientError) in try connection.resizeShell(token: token, shell: shell, rows: rows, cols: cols) }
        ).run(what: "shell")
    }
}

/// An open remote shell (dbg's or distro's: they differ only in their ops) wired to the
/// local terminal until it exits.
struct ShellSession: @unchecked Sendable {
    let connection: AgentConnection
    let shell: UInt32
    let outputEvent: UInt16
    let exitEvent: UInt16
    let input: ([UInt8]) throws(ClientError) -> Void
    let resize: (Int64, Int64) throws(ClientError) -> Void
    private let lock = Lock()

    init(connection: AgentConnection, shell: UInt32, outputEvent: UInt16, exitEvent: UInt16,
         input: @escaping ([UInt8]) throws(ClientError) -> Void, resize: @escaping (Int64, Int64) throws(ClientError) -> Void) {
        self.connection = connection
        self.shell = shell
        self.outputEvent = outputEvent
        self.exitEvent = exitEvent
        self.input = input
        self.resize = resize
    }

    /// Relays until the shell exits, then exits dbg with its status. For a local
    /// terminal (a script on stdin goes through a streamed login shell instead).
    func run(what: String) throws -> Never {
        let raw = LocalTerminal.makeRaw()
        defer { raw?.restore() }
        SignalWatcher.on(SIGWINCH) {
            let (rows, cols) = LocalTerminal.size()
            lock.withLock { _ = try? resize(rows, cols) }
        }
        // Whatever ends dbg, the local terminal is put back first.
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            SignalWatcher.on(signal) {
                raw?.restore()
                exit(128 + signal)
            }
        }
        startThread { [self] in forwardStandardInput() }
        // A shell may sit idle for hours: no limit on the wait for its output.
        let status = try attempt(what) {
            try connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in try relayEvents() }
        }
        raw?.restore()
        throw ExitCode(Int32(truncatingIfNeeded: status))
    }

    /// Writes ShellOutput to stdout until ShellExit; returns the exit code.
    private func relayEvents() throws(ClientError) -> Int64 {
        while true {
            let exit: Int64? = try connection.receive { (header, payload) throws(ClientError) -> Int64? in
                switch (header.kind, header.op) {
                case (.event, outputEvent):
                    let event = try ReceivedFrame.decode(header, payload, as: ShellOutputEvent.self)
                    guard event.sessionID == shell else { return nil }
                    try event.data.withUnsafeBytes { (bytes) throws(ClientError) in try writeAll(1, bytes, to: "stdout") }
                    return nil
                case (.event, exitEvent):
                    let event = try ReceivedFrame.decode(header, payload, as: ShellExitEvent.self)
                    return event.sessionID == shell ? event.exitCode : nil
                default:
                    try ReceivedFrame.throwIfError(header, payload)
                    return nil
                }
            }
            if let exit { return exit }
        }
    }

    /// Copies the keystrokes into the shell. One sender at a time on the connection.
    private func forwardStandardInput() {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            let sent: Bool = lock.withLock { (try? input(Array(buffer[0..<count]))) != nil }
            if !sent { return }
        }
    }
}

/// The local terminal: its size and raw mode.
enum LocalTerminal {
    static func size() -> (Int64, Int64) {
        var window = winsize()
        guard ioctl(0, UInt(TIOCGWINSZ), &window) == 0, window.ws_row > 0, window.ws_col > 0 else { return (0, 0) }
        return (Int64(window.ws_row), Int64(window.ws_col))
    }

    /// Puts the terminal in raw mode; the returned value puts it back.
    static func makeRaw() -> SavedTerminal? {
        var saved = termios()
        guard tcgetattr(0, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        // TCSADRAIN, not TCSAFLUSH: what was typed ahead belongs to the remote shell.
        tcsetattr(0, TCSADRAIN, &raw)
        return SavedTerminal(settings: saved)
    }
}

final class SavedTerminal: @unchecked Sendable {
    private var settings: termios
    private var restored = false
    private let lock = Lock()

    init(settings: termios) { self.settings = settings }

    func restore() {
        lock.withLock {
            guard !restored else { return }
            restored = true
            tcsetattr(0, TCSADRAIN, &settings)
        }
    }
}
