import ArgumentParser
import DbgClient
import DbgWire
import Foundation

/// What exec and sh share: where to run, for how long, and how the streams go.
struct RunOptions: ParsableArguments {
    @Option(help: "Seconds before the agent ends the command (0: no limit; with --capture, the agent's default).")
    var timeout: Int32 = 0

    @Option(help: "Working directory on the board (default: the user's home).")
    var cwd: String = ""

    @Option(name: [.customShort("e"), .long], help: "NAME=value added to the remote environment (repeatable).")
    var env: [String] = []

    @Flag(name: [.customShort("t"), .long], help: "Run on a terminal (PTY): interactive programs, colours.")
    var tty = false

    @Flag(name: [.customShort("i"), .long], help: "Forward stdin also when it is a terminal.")
    var interactive = false

    @Flag(help: "Capture the output in one answer (bounded by the agent's --max-output), as RunCommand.")
    var capture = false

    @Flag(help: "With --capture: exit non-zero when the agent had to cut stdout or stderr.")
    var failOnTruncate = false

    func validate() throws {
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
        let started = try attempt(what) { () throws(ClientError) in try login.connection.startProcess(token: token, spec) }
        let channel = RemoteProcessChannel.dbg(login.connection, token: token, process: started.processID)
        let session = RemoteProcessSession(connection: login.connection, channel: channel, started: started, terminal: tty,
                                           what: what, timeoutSeconds: timeout)
        return try session.run(forwardInput: !Terminal.stdinIsTerminal || interactive || tty)
    }

    /// Runs the request and relays its output in one answer; returns the status dbg
    /// exits with.
    func capture(_ agent: AgentOptions, op: Dbg.Op, command: String, what: String) throws -> Int32 {
        let login = try agent.login()
        let request = Dbg.ExecRequest(token: login.token, command: WireBytes(command), cwd: WireBytes(cwd), timeoutSec: timeout)
        // The agent bounds the command (--timeout, or its own default); dbg waits as
        // long as the agent lets it run.
        let result: Dbg.ExecResult = try attempt(what) {
            try login.connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in
                try login.connection.call(service: ServiceID.dbg, op: op.rawValue, request)
            }
        }
        FileHandle.standardOutput.write(Data(result.stdout.bytes))
        FileHandle.standardError.write(Data(result.stderr.bytes))
        var status = Int32(truncatingIfNeeded: result.exitCode)
        for (name, cut) in [("stdout", result.stdoutTruncated), ("stderr", result.stderrTruncated)] where cut {
            Terminal.error("dbg: warning: the agent kept only the first \(name == "stdout" ? result.stdout.count : result.stderr.count) bytes of \(name)")
            if failOnTruncate && status == 0 { status = ExitStatus.failure }
        }
        return status
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program on the board (no shell) and exit with its status.",
        discussion: """
            Each argument reaches the program exactly as typed: dbg exec -- ls -l '/tmp/a b'. \
            stdout and stderr stream byte for byte, without a size limit; stdin is forwarded when \
            it is not a terminal (tar c dir | dbg exec -- tar x -C /opt), or with -i. Ctrl-C, \
            SIGTERM and SIGHUP reach the remote process (a second Ctrl-C within 1 s kills it).
            """
    )

    @OptionGroup var agent: AgentOptions
    @OptionGroup var options: RunOptions

    @Argument(parsing: .captureForPassthrough, help: "The program and its arguments (after --).")
    var command: [String]

    func validate() throws {
        guard !command.isEmpty else { throw ValidationError("nothing to run: dbg exec -- PROGRAM ARGS...") }
    }

    func run() throws {
        let words = command.first == "--" ? Array(command.dropFirst()) : command
        let status = options.capture
            ? try options.capture(agent, op: .runCommand, command: words.map(quoteForAgent).joined(separator: " "), what: "exec")
            : try options.stream(agent, argv: words, command: "", what: "exec")
        throw ExitCode(status)
    }
}

struct Sh: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a shell command line on the board (the user's shell, -c) and exit with its status."
    )

    @OptionGroup var agent: AgentOptions
    @OptionGroup var options: RunOptions

    @Argument(help: "The command line, e.g. 'dmesg | tail -5'.")
    var commandLine: String

    func run() throws {
        throw ExitCode(options.capture ? try options.capture(agent, op: .runShell, command: commandLine, what: "sh")
                                       : try options.stream(agent, argv: [], command: commandLine, what: "sh"))
    }
}

/// Quotes a word for the agent's splitter so it arrives unchanged: single quotes, with
/// each ' written as '\'' (close, escaped quote, reopen).
func quoteForAgent(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
