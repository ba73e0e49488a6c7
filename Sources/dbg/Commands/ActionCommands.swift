import DbgClient
import DbgWire
import Glibc

/// `dbg action ...`: the application's named actions (provisioning steps, self-tests).
enum ActionCommand {
    static let spec = CommandSpec(
        name: "action",
        abstract: "List the application's actions, show what input one takes, run one.",
        discussion: """
            An action is the board's actions/NAME/run in the application directory: it gets the input \
            JSON on stdin and prints its result JSON, which dbg prints. A failed action (non-zero exit) \
            prints its message and stderr, and dbg exits 1.
            """,
        subcommands: [ActionList.node, ActionInput.node, ActionRun.node])
}

struct ActionList: Command {
    static let spec = CommandSpec(name: "list", abstract: "The actions, one a line (* when it has an input spec).",
                                  options: [.json("Print the runtime's list.")])
    let agent: AgentOptions
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
    }

    func run() throws {
        let list = try AppClient(agent).call("actions")
        if json { return printJSON(list) }
        guard case .array(let actions) = list else { return }
        for action in actions {
            print((action["name"]?.stringValue ?? "?") + (action["input"]?.boolValue == true ? " *" : ""))
        }
    }
}

struct ActionInput: Command {
    static let spec = CommandSpec(name: "input", abstract: "What input an action takes (its input.json; null when it has none).",
                                  arguments: [.one("NAME", "The action.")])
    let agent: AgentOptions
    let name: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        name = arguments.arguments[0]
    }

    func run() throws {
        printJSON(try AppClient(agent).call("execute", procedure("/actions/" + name + "/getInput", input: .null, timeout: nil),
                                            what: "action input " + name))
    }
}

struct ActionRun: Command {
    static let spec = CommandSpec(
        name: "run", abstract: "Run an action and print its result JSON.",
        options: [.option("input", "i", "JSON|@FILE", "The input: JSON text, or @FILE to read it from a file (default null)."),
                  .option("timeout", nil, "SEC", "Stop it after SEC seconds (default: the agent's --app-timeout)."),
                  .flag("sandbox", nil, "Run it in the sandbox: root read-only, its own /tmp, PIDs and network (loopback only).")],
        arguments: [.one("NAME", "The action.")])

    let agent: AgentOptions
    let name: String
    let input: JSONValue
    let timeout: Int?
    let sandbox: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        name = arguments.arguments[0]
        timeout = try arguments.int("timeout", in: 1...86_400)
        sandbox = arguments.flag("sandbox")
        input = try readJSONArgument(arguments.value("input"), what: "--input")
    }

    func run() throws {
        let result = try AppClient(agent).call(sandbox ? "sandbox" : "execute",
                                               procedure("/actions/" + name + "/run", input: input, timeout: timeout),
                                               what: "action run " + name)
        printJSON(result)
    }
}

/// execute's params.
func procedure(_ path: String, input: JSONValue, timeout seconds: Int?) -> JSONValue {
    .object([JSONMember("id", .string("dbg")), JSONMember("procedure", .string(path)), JSONMember("input", input),
             JSONMember("timeout", seconds.map { .integer(Int64($0) * 1000) } ?? .null)])
}

/// JSON text, @FILE, or nil (null).
func readJSONArgument(_ given: String?, what: String) throws -> JSONValue {
    guard let given else { return .null }
    var text = Array(given.utf8)
    if given.hasPrefix("@") {
        let path = String(given.dropFirst())
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, let bytes = readToEnd(fd) else {
            if fd >= 0 { close(fd) }
            throw reportLocal(what, "cannot read " + path)
        }
        close(fd)
        text = bytes
    }
    do throws(JSONError) {
        return try JSONReader.parse(text)
    } catch {
        throw reportLocal(what, "not JSON: " + error.message)
    }
}

/// `dbg backup create`: the application's backup, made on the board and copied here.
enum BackupCommand {
    static let spec = CommandSpec(
        name: "backup",
        abstract: "Back the application up and copy the archive here.",
        subcommands: [BackupCreate.node])
}

struct BackupCreate: Command {
    static let spec = CommandSpec(
        name: "create",
        abstract: "Create a backup on the board (its backup/create hook, or a tar of backup/paths) and pull it, checked with SHA-256.",
        options: [.option("output", "o", "FILE", "Where to put it (default: its name on the board, here)."),
                  .flag("remove", nil, "Remove the archive from the board once copied (default: kept in the agent's --backup-dir)."),
                  .flag("quiet", "q", "No progress line.")])

    let agent: AgentOptions
    let output: String?
    let remove: Bool
    let quiet: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        output = arguments.value("output")
        remove = arguments.flag("remove")
        quiet = arguments.flag("quiet")
    }

    func run() throws {
        let app = try AppClient(agent)
        let made = try app.call("execute", procedure("/backup/create", input: .null, timeout: nil), what: "backup create")
        guard let path = made["path"]?.stringValue, let digest = made["sha256"]?.stringValue else {
            throw reportLocal("backup create", "the runtime's answer has no path")
        }
        let target = output ?? LocalPath(path).name
        let transfer = Transfer(options: TransferOptions(quiet: quiet, verify: true), files: app.login.files)
        try attempt("backup create: pull \(path)") { try transfer.pull(path, to: target) }
        // The copy was checked against the board's file while it moved; the board's file
        // against what the runtime hashed when it was made.
        guard Format.hex(try localHasher(target, length: 0).finish()) == digest else {
            throw reportLocal("backup create", target + " differs from the backup the board made (SHA-256)")
        }
        if remove { try attempt("backup create: remove \(path)") { try transfer.files.remove(path, recursive: false) } }
        if !quiet { print("backup: " + target + " (" + String(made["size"]?.integerValue ?? 0) + " bytes, sha256 " + digest + ")") }
    }
}

/// `dbg rpc METHOD [PARAMS]`: any call of the runtime, as raw JSON.
struct RPC: Command {
    static let spec = CommandSpec(
        name: "rpc",
        abstract: "Send one JSON-RPC call to the application runtime and print its answer.",
        discussion: """
            The methods are seed 002's (init, exit, start, stop, execute, sandbox, callback, eval) and the \
            agent's own (status, logs, actions). The answer is printed as the runtime sent it; dbg exits 1 \
            when it is an error.
            """,
        arguments: [.one("METHOD", "The method."), .optional("PARAMS", "Its params: a JSON object, or @FILE.")])

    let agent: AgentOptions
    let method: String
    let params: JSONValue?

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        method = arguments.arguments[0]
        params = arguments.arguments.count > 1 ? try readJSONArgument(arguments.arguments[1], what: "PARAMS") : nil
    }

    func run() throws {
        let login = try agent.login()
        var members = [JSONMember("jsonrpc", .string("2.0")), JSONMember("method", .string(method))]
        if let params { members.append(JSONMember("params", params)) }
        members.append(JSONMember("id", .integer(1)))
        let answer = try attempt("rpc " + method) { try login.connection.appCall(token: login.token, message: JSONWriter.encode(.object(members))) }
        guard !answer.isEmpty else { return }
        writeOut(1, answer + [UInt8(ascii: "\n")])
        if (try? JSONReader.parse(answer))?["error"] != nil { throw ExitCode(ExitStatus.failure) }
    }
}
