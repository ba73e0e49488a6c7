import DbgClient
import DbgWire
import Glibc

/// What exec and sh share: where to run, for how long, and how the streams go.
struct RunOptions {
    static let specs: [OptionSpec] = [
        .option("timeout", nil, "SEC", "Seconds before the agent ends the command (0: no limit; with --capture, the agent's default)."),
        .option("cwd", nil, "DIR", "Working directory on the board (default: the user's home)."),
        .option("env", "e", "NAME=VALUE", "Added to the remote environment (repeatable)."),
        .flag("tty", "t", "Run on a terminal (PTY): interactive programs, colours."),
        .flag("interactive", "i", "Forward stdin also when it is a terminal."),
        .flag("capture", nil, "Capture the output in one answer (bounded by the agent's --max-output), as RunCommand."),
        .flag("fail-on-truncate", nil, "With --capture: exit non-zero when the agent had to cut stdout or stderr."),
    ]

    let timeout: Int32
    let cwd: String
    let env: [String]
    let tty: Bool
    let interactive: Bool
    let capture: Bool
    let failOnTruncate: Bool

    init(_ arguments: ParsedArguments) throws {
        timeout = Int32(try arguments.int("timeout", 0, in: 0...Int(Int32.max)))
        cwd = arguments.value("cwd") ?? ""
        env = arguments.all("env")
        tty = arguments.flag("tty")
        interactive = arguments.flag("interactive")
        capture = arguments.flag("capture")
        failOnTruncate = arguments.flag("fail-on-truncate")
        if let bad = env.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
            throw ValidationError("--env '\(bad)': expected NAME=value")
        }
        if capture && (tty || interactive || !env.isEmpty) {
            throw ValidationError("--capture takes no input and no terminal: drop --tty, --interactive and --env")
        }
    }

    /// Streams a process (argv word for word, or a shell command line) to the local
    /// stdin, stdout and stderr; returns the status dbg exits with.
    func stream(_ agent: AgentOptions, argv: [String], command: String, what: String) throws -> Int32 {
        let login = try agent.login()
        var spec = AgentConnection.ProcessSpec()
        spec.argv = argv.map { Array($0.utf8) }
        spec.command = Array(command.utf8)
        spec.cwd = cwd
        spec.environment = env.map { Array($0.utf8) }
        spec.timeoutSeconds = timeout
        if tty {
            let (rows, cols) = Terminal.stdinIsTerminal ? LocalTerminal.size() : (0, 0)
            spec.terminal = (rows, cols)
        }
        let token = login.token.string
        let started: ProcessStarted
        do throws(ClientError) {
            started = try login.connection.startProcess(token: token, spec)
        } catch {
            guard case .remote(code: .unsupported, errno: _, message: _) = error else {
                return try attempt(what) { () throws(ClientError) in throw error }
            }
            // A build without streaming processes (DBG_STREAMS=OFF) runs commands captured
            // only. With nothing to forward that is the same command, its output at the end;
            // otherwise dbg stops rather than drop the input.
            guard capturesTheSame else {
                Terminal.error("dbg: \(what): \(error.message); --capture runs it without stdin, a terminal or --env")
                throw ExitCode(status(of: error))
            }
            Terminal.error("dbg: \(what): \(error.message); running it with --capture (the output comes when it ends)")
            return try capture(login, argv: argv, command: command, what: what)
        }
        let channel = RemoteProcessChannel.dbg(login.connection, token: token, process: started.processID)
        let session = RemoteProcessSession(connection: login.connection, channel: channel, started: started, terminal: tty,
                                           what: what, timeoutSeconds: timeout)
        return try session.run(forwardInput: !Terminal.stdinIsTerminal || interactive || tty)
    }

    /// Whether `--capture` would run the same thing: no terminal, no environment, and no
    /// stdin to forward (a terminal without -i, or /dev/null).
    var capturesTheSame: Bool {
        guard !tty && !interactive && env.isEmpty else { return false }
        if Terminal.stdinIsTerminal { return true }
        var input = stat(), null = stat()
        return fstat(0, &input) == 0 && stat("/dev/null", &null) == 0
            && input.st_mode & S_IFMT == S_IFCHR && input.st_rdev == null.st_rdev
    }

    /// Runs the program (argv, quoted for the agent's splitter: RunCommand) or the shell
    /// command line (RunShell) and relays its output in one answer; returns the status dbg
    /// exits with.
    func capture(_ login: LoggedInAgent, argv: [String], command: String, what: String) throws -> Int32 {
        let op: Dbg.Op = argv.isEmpty ? .runShell : .runCommand
        let line = argv.isEmpty ? command : argv.map(quoteForAgent).joined(separator: " ")
        let request = Dbg.ExecRequest(token: login.token, command: WireBytes(line), cwd: WireBytes(cwd), timeoutSec: timeout)
        // The agent bounds the command (--timeout, or its own default); dbg waits as
        // long as the agent lets it run.
        let result: Dbg.ExecResult = try attempt(what) {
            try login.connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in
                try login.connection.call(service: ServiceID.dbg, op: op.rawValue, request)
            }
        }
        writeOut(1, result.stdout.bytes)
        writeOut(2, result.stderr.bytes)
        var status = Int32(truncatingIfNeeded: result.exitCode)
        for (name, cut) in [("stdout", result.stdoutTruncated), ("stderr", result.stderrTruncated)] where cut {
            Terminal.error("dbg: warning: the agent kept only the first \(name == "stdout" ? result.stdout.count : result.stderr.count) bytes of \(name)")
            if failOnTruncate && status == 0 { status = ExitStatus.failure }
        }
        return status
    }
}

struct Exec: Command {
    static let spec = CommandSpec(
        name: "exec",
        abstract: "Run a program on the board (no shell) and exit with its status.",
        discussion: """
            Each argument reaches the program exactly as typed: dbg exec -- ls -l '/tmp/a b'. \
            stdout and stderr stream byte for byte, without a size limit; stdin is forwarded when \
            it is not a terminal (tar c dir | dbg exec -- tar x -C /opt), or with -i. Ctrl-C, \
            SIGTERM and SIGHUP reach the remote process (a second Ctrl-C within 1 s kills it). \
            An agent built without streaming processes (DBG_STREAMS=OFF) runs it as --capture when \
            there is nothing to forward, and says so.
            """,
        options: RunOptions.specs,
        arguments: [ArgumentSpec(name: "PROGRAM [ARG...]", count: .passthrough, help: "The program and its arguments.")])

    let agent: AgentOptions
    let options: RunOptions
    let words: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        options = try RunOptions(arguments)
        words = arguments.arguments
        guard !words.isEmpty else { throw ValidationError("nothing to run: dbg exec -- PROGRAM ARGS...") }
    }

    func run() throws {
        let status = options.capture
            ? try options.capture(agent.login(), argv: words, command: "", what: "exec")
            : try options.stream(agent, argv: words, command: "", what: "exec")
        throw ExitCode(status)
    }
}

struct Sh: Command {
    static let spec = CommandSpec(
        name: "sh", abstract: "Run a shell command line on the board (the user's shell, -c) and exit with its status.",
        options: RunOptions.specs, arguments: [.one("COMMAND-LINE", "The command line, e.g. 'dmesg | tail -5'.")])

    let agent: AgentOptions
    let options: RunOptions
    let commandLine: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        options = try RunOptions(arguments)
        commandLine = arguments.arguments[0]
    }

    func run() throws {
        throw ExitCode(options.capture ? try options.capture(agent.login(), argv: [], command: commandLine, what: "sh")
                                       : try options.stream(agent, argv: [], command: commandLine, what: "sh"))
    }
}

/// Quotes a word for the agent's splitter so it arrives unchanged: single quotes, with
/// each ' written as '\'' (close, escaped quote, reopen).
func quoteForAgent(_ word: String) -> String {
    "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: #"'\''"#) + "'"
}
