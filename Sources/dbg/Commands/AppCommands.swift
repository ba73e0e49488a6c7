import DbgClient
import DbgWire
import Glibc

/// `dbg app ...`: the application the board's agent supervises (its --app-dir).
enum AppCommand {
    static let spec = CommandSpec(
        name: "app",
        abstract: "Deploy, start, stop and watch the board's application (the agent's --app-dir).",
        discussion: """
            The agent supervises the application's main (one instance; SIGTERM then SIGKILL on stop; \
            restarted on failure with --app-restart on-failure) and keeps its output in a ring of lines. \
            The same calls are on the board's runtime socket (JSON-RPC 2.0, seed 002): dbg rpc sends any \
            of them. The user must be root or in the agent's --rpc-group.
            """,
        subcommands: [AppStatus.node, AppStart.node, AppStop.node, AppRestart.node, AppLogs.node, AppDeploy.node])
}

/// A session with the runtime: each call's failure is one line and exit status 1.
struct AppClient {
    let login: LoggedInAgent

    init(_ agent: AgentOptions) throws { login = try agent.login() }

    func call(_ method: String, _ params: JSONValue? = nil, what: String? = nil) throws -> JSONValue {
        let result = try attempt(what ?? method) { try login.connection.appRequest(token: login.token, method: method, params: params) }
        switch result {
        case .success(let value):
            return value
        case .failure(let failure):
            Terminal.error("dbg: " + (what ?? method) + ": " + failure.message)
            // The message is stderr's last line; the rest of it may say more.
            if let stderr = failure.data?["stderr"]?.stringValue, stderr.split(separator: "\n").count > 1 {
                writeOut(2, Array(stderr.utf8))
            }
            throw ExitCode(ExitStatus.failure)
        }
    }

    var status: JSONValue { get throws { try call("status") } }
}

/// Prints a JSON value on one line.
func printJSON(_ value: JSONValue) {
    writeOut(1, JSONWriter.encode(value) + [UInt8(ascii: "\n")])
}

struct AppStatus: Command {
    static let spec = CommandSpec(name: "status", abstract: "Whether main runs, its pid, restarts and last exit.",
                                  options: [.json("Print the runtime's status object.")])

    let agent: AgentOptions
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
    }

    func run() throws {
        let status = try AppClient(agent).status
        if json { return printJSON(status) }
        print("state: " + (status["state"]?.stringValue ?? "?"))
        if let pid = status["pid"]?.integerValue { print("pid: " + String(pid)) }
        print("restarts: " + String(status["restarts"]?.integerValue ?? 0))
        if let exit = status["lastExit"], exit != .null {
            print("last exit: " + (exit["signal"]?.integerValue.map { "signal " + String($0) } ?? "status " + String(exit["code"]?.integerValue ?? 0)))
        }
        print("directory: " + (status["directory"]?.stringValue ?? "?"))
    }
}

struct AppStart: Command {
    static let spec = CommandSpec(name: "start", abstract: "Start main (nothing happens when it runs).")
    let agent: AgentOptions
    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }
    func run() throws { _ = try AppClient(agent).call("start") }
}

struct AppStop: Command {
    static let spec = CommandSpec(name: "stop", abstract: "Stop main: SIGTERM to its process group, SIGKILL after the agent's --app-stop-timeout.")
    let agent: AgentOptions
    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }
    func run() throws { _ = try AppClient(agent).call("stop") }
}

struct AppRestart: Command {
    static let spec = CommandSpec(name: "restart", abstract: "Stop main, then start it.")
    let agent: AgentOptions
    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }
    func run() throws {
        let app = try AppClient(agent)
        _ = try app.call("stop")
        _ = try app.call("start")
    }
}

struct AppLogs: Command {
    static let spec = CommandSpec(
        name: "logs",
        abstract: "Print main's output lines kept by the agent (stdout here, stderr and the agent's notes on stderr).",
        options: [.flag("follow", "f", "Keep printing new lines until interrupted."),
                  .option("since", nil, "SEQ", "Only lines numbered after SEQ (each line's number is in --json)."),
                  .json("Print one JSON object per line: seq, time (ms since 1970), stream, text, cut.")])

    let agent: AgentOptions
    let follow: Bool
    let since: Int
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        follow = arguments.flag("follow")
        since = try arguments.int("since", 0, in: 0...Int.max)
        json = arguments.flag("json")
    }

    func run() throws {
        let app = try AppClient(agent)
        var next = Int64(since)
        var dropped: Int64?
        repeat {
            let page = try app.call("logs", .object([JSONMember("since", .integer(next)), JSONMember("follow", .bool(follow))]))
            if let total = page["dropped"]?.integerValue, let before = dropped, total > before {
                Terminal.error("dbg: app logs: " + String(total - before) + " lines were dropped by the agent's ring before they were read")
            }
            dropped = page["dropped"]?.integerValue
            if case .array(let lines)? = page["lines"] {
                for line in lines { show(line) }
            }
            next = page["next"]?.integerValue ?? next
        } while follow
    }

    private func show(_ line: JSONValue) {
        if json { return printJSON(line) }
        let text = line["text"]?.stringValue ?? ""
        switch line["stream"]?.stringValue {
        case "stdout": writeOut(1, Array((text + "\n").utf8))
        case "stderr": writeOut(2, Array((text + "\n").utf8))
        default: writeOut(2, Array(("dbgd: " + text + "\n").utf8))
        }
    }
}

struct AppDeploy: Command {
    static let spec = CommandSpec(
        name: "deploy",
        abstract: "Install or update the application: push it, run its init hook, restart main.",
        discussion: """
            PATH is a directory (the whole application: main, hooks, actions, backup) or a single \
            executable (it becomes main). A directory is pushed beside the application's directory, \
            checked with SHA-256, and swapped in once main has stopped (two renames; the old one is \
            removed). Then init runs with kind install (there was no application) or update, and main starts.
            """,
        options: [.flag("quiet", "q", "No progress lines.")],
        arguments: [.one("PATH", "The application's directory, or one executable for main.")])

    let agent: AgentOptions
    let path: String
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        path = arguments.arguments[0]
        quiet = arguments.flag("quiet")
    }

    func run() throws {
        let local = LocalPath(path)
        guard local.permissions != nil else { throw reportLocal("deploy", "\(path): no such file or directory") }
        let app = try AppClient(agent)
        guard let directory = try app.status["directory"]?.stringValue else { throw reportLocal("deploy", "the runtime gave no directory") }
        let transfer = Transfer(options: TransferOptions(quiet: quiet, verify: true), files: app.login.files)
        let files = transfer.files
        let existed = (try? files.stat(directory)) != nil
        try attempt("deploy \(path)") {
            if local.isDirectory {
                let staging = directory + ".deploy"
                let old = directory + ".old"
                for leftover in [staging, old] where (try? files.stat(leftover)) != nil { try files.remove(leftover, recursive: true) }
                try transfer.push(path, to: staging)
                _ = try app.call("stop")
                if existed { try files.rename(directory, to: old, replace: false) }
                try files.rename(staging, to: directory, replace: false)
                if existed { try files.remove(old, recursive: true) }
            } else {
                if !existed { try files.makeDirectory(directory, mode: 0o755, parents: true) }
                _ = try app.call("stop")
                try transfer.push(path, to: remoteJoin(directory, "main"))
            }
        }
        let kind = existed ? "update" : "install"
        _ = try app.call("init", .object([JSONMember("id", .string("deploy")), JSONMember("kind", .string(kind))]), what: "init")
        _ = try app.call("start")
        let pid = try app.status["pid"]?.integerValue
        if !quiet { print("deployed \(path) to \(directory) (\(kind)); main runs" + (pid.map { " as pid \($0)" } ?? "")) }
    }
}

/// A local problem as one line and exit status 1.
func reportLocal(_ what: String, _ message: String) -> ExitCode {
    Terminal.error("dbg: " + what + ": " + message)
    return ExitCode(ExitStatus.failure)
}
