import ArgumentParser
import DbgClient
import DbgWire
import Foundation

/// What exec and sh share: where to run, for how long, and what to do with the result.
struct RunOptions: ParsableArguments {
    @Option(help: "Seconds before the agent kills the command (0: the agent's default).")
    var timeout: Int32 = 0

    @Option(help: "Working directory on the board (default: the user's home).")
    var cwd: String = ""

    @Flag(help: "Exit non-zero when the agent had to cut stdout or stderr.")
    var failOnTruncate = false

    /// Runs the request and relays its output; returns the status dbg exits with.
    func run(_ agent: AgentOptions, op: Dbg.Op, command: String, what: String) throws -> Int32 {
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
        discussion: "Each argument reaches the program exactly as typed: dbg exec -- ls -l '/tmp/a b'."
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
        let status = try options.run(agent, op: .runCommand, command: words.map(quoteForAgent).joined(separator: " "), what: "exec")
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
        throw ExitCode(try options.run(agent, op: .runShell, command: commandLine, what: "sh"))
    }
}

/// Quotes a word for the agent's splitter so it arrives unchanged: single quotes, with
/// each ' written as '\'' (close, escaped quote, reopen).
func quoteForAgent(_ word: String) -> String {
    "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
