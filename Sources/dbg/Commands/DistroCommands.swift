import DbgClient
import DbgWire

/// `dbg distro ...`: the Linux rootfs on the board (the agent's distro service).
enum DistroCommand {
    static let spec = CommandSpec(
        name: "distro",
        abstract: "Install a Linux rootfs on the board, and run commands and shells inside it.",
        discussion: """
            The rootfs lives at the agent's --distro-root. Commands and shells run in their own mount, \
            PID and UTS namespaces with /proc, /sys, /dev and /tmp mounted. Install and remove need \
            root on the board. Over a Unix socket the agent takes the caller's own user and no \
            password is asked.
            """,
        subcommands: [DistroStatus.node, DistroInstall.node, DistroRun.node, DistroShell.node, DistroRemove.node])
}

struct DistroStatus: Command {
    static let spec = CommandSpec(name: "status", abstract: "Whether a rootfs is installed, where, and its size.",
                                  options: [.json("Print a JSON object.")])

    let agent: AgentOptions
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
    }

    func run() throws {
        let connection = try agent.distroConnection()
        let status = try attempt("distro status") { try connection.distroStatus() }
        if json {
            print(#"{"installed":\#(status.installed),"path":\#(jsonString(status.path.string)),"size":\#(status.size)}"#)
        } else {
            print("installed: \(status.installed ? "yes" : "no")")
            print("path: \(status.path.string)")
            if status.installed { print("size: \(status.size) bytes (\(status.size >> 20) MiB)") }
        }
    }
}

struct DistroInstall: Command {
    static let spec = CommandSpec(
        name: "install",
        abstract: "Install a rootfs archive (tar, tar.gz, tar.xz or tar.zst) on the board.",
        discussion: """
            URL is a path on the board, file:///PATH or http://HOST[:PORT]/PATH; without it the agent \
            uses its --distro-url. https is not supported by the agent: fetch the archive here, \
            `dbg push rootfs.tar.xz /tmp/`, then `dbg distro install /tmp/rootfs.tar.xz` (or run wget \
            or curl on the board with `dbg exec`). The rootfs appears only once it is complete.
            """,
        arguments: [.optional("URL", "Where the agent fetches the archive (default: its --distro-url).")])

    let agent: AgentOptions
    let url: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        url = arguments.arguments.first ?? ""
    }

    func run() throws {
        let connection = try agent.distroConnection()
        try attempt("distro install") { try connection.distroInstall(url: url) }
        let status = try attempt("distro status") { try connection.distroStatus() }
        print("installed at \(status.path.string) (\(status.size >> 20) MiB)")
    }
}

struct DistroRemove: Command {
    static let spec = CommandSpec(name: "remove", abstract: "Remove the rootfs from the board.")

    let agent: AgentOptions

    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }

    func run() throws {
        let connection = try agent.distroConnection()
        try attempt("distro remove") { try connection.distroRemove() }
    }
}

/// Where a distro command or shell runs: directory, binds, environment.
struct DistroContext {
    static let specs: [OptionSpec] = [
        .option("workdir", nil, "DIR", "Working directory inside the rootfs (default /)."),
        .option("bind", nil, "HOST:CONTAINER", "Bind a board path into the rootfs (repeatable)."),
        .option("env", nil, "KEY=VALUE", "Set a variable (repeatable)."),
    ]

    let workdir: String
    let binds: [String]
    let variables: [String]

    init(_ arguments: ParsedArguments) throws {
        workdir = arguments.value("workdir") ?? ""
        binds = arguments.all("bind")
        variables = arguments.all("env")
        for bind in binds where !bind.contains(":") || bind.contains(",") {
            throw ValidationError("--bind '\(bind)': expected HOST:CONTAINER (no commas)")
        }
        for variable in variables where !variable.contains("=") || variable.hasPrefix("=") || variable.contains("\n") {
            throw ValidationError("--env '\(variable)': expected KEY=VALUE on one line")
        }
    }

    var bind: WireBytes { WireBytes(binds.joined(separator: ",")) }
    var env: WireBytes { WireBytes(variables.joined(separator: "\n")) }
}

struct DistroRun: Command {
    static let spec = CommandSpec(
        name: "run",
        abstract: "Run a program inside the rootfs and exit with its status.",
        discussion: """
            Each argument reaches the program exactly as typed: dbg distro run -- cat /etc/os-release. \
            Like dbg exec, stdin, stdout and stderr stream (stdin when it is not a terminal, or with \
            -i), -t gives a PTY, and Ctrl-C, SIGTERM and SIGHUP reach the program.
            """,
        options: DistroContext.specs + [
            .flag("tty", "t", "Run on a terminal (PTY)."),
            .flag("interactive", "i", "Forward stdin also when it is a terminal."),
            .option("timeout", nil, "SEC", "Seconds before the agent ends the program (0: no limit; not with --capture)."),
            .flag("capture", nil, "One request and one answer (distro Run): the output kept up to the agent's limit."),
            .flag("stdin", nil, "With --capture: send dbg's stdin to the program (read to its end first; up to the agent's frame size)."),
        ],
        arguments: [ArgumentSpec(name: "PROGRAM [ARG...]", count: .passthrough, help: "The program and its arguments.")])

    let agent: AgentOptions
    let context: DistroContext
    let tty: Bool
    let interactive: Bool
    let timeout: Int32
    let capture: Bool
    let stdin: Bool
    let words: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        context = try DistroContext(arguments)
        tty = arguments.flag("tty")
        interactive = arguments.flag("interactive")
        timeout = Int32(try arguments.int("timeout", 0, in: 0...Int(Int32.max)))
        capture = arguments.flag("capture")
        stdin = arguments.flag("stdin")
        words = arguments.arguments
        guard !words.isEmpty else { throw ValidationError("nothing to run: dbg distro run -- PROGRAM ARGS...") }
        if capture && (tty || interactive || timeout != 0) {
            throw ValidationError("--capture takes no terminal and no timeout: drop --tty, --interactive and --timeout")
        }
        if stdin && !capture { throw ValidationError("--stdin goes with --capture (streamed runs forward stdin anyway)") }
    }

    func run() throws {
        let line = WireBytes(words.map(quoteForAgent).joined(separator: " "))
        let connection = try agent.distroConnection()
        guard !capture else {
            guard let input = stdin ? readToEnd(0) : [] else { throw LocalFailure("cannot read stdin: " + describeErrno()) }
            let request = Distro.RunRequest(command: line, workdir: WireBytes(context.workdir), bind: context.bind, env: context.env,
                                            input: WireBytes(input))
            let result = try attempt("distro run") { try connection.distroRun(request) }
            writeOut(1, result.stdout.bytes)
            writeOut(2, result.stderr.bytes)
            throw ExitCode(Int32(truncatingIfNeeded: result.exitCode))
        }
        let (rows, cols) = tty && Terminal.stdinIsTerminal ? LocalTerminal.size() : (0, 0)
        let request = Distro.RunStartRequest(command: line, workdir: WireBytes(context.workdir), bind: context.bind,
                                             env: context.env, terminal: tty, rows: rows, cols: cols, timeoutSec: timeout)
        let started = try attempt("distro run") { try connection.distroStartRun(request) }
        let session = RemoteProcessSession(connection: connection, channel: .distro(connection, process: started.processID),
                                           started: started, terminal: tty, what: "distro run", timeoutSeconds: timeout)
        throw ExitCode(try session.run(forwardInput: !Terminal.stdinIsTerminal || interactive || tty))
    }
}

struct DistroShell: Command {
    static let spec = CommandSpec(
        name: "shell",
        abstract: "An interactive login shell (/bin/sh) inside the rootfs; exits with its status.",
        discussion: "Like dbg shell: raw terminal, window size followed; a script on stdin is read by sh -l without a terminal.",
        options: DistroContext.specs)

    let agent: AgentOptions
    let context: DistroContext

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        context = try DistroContext(arguments)
    }

    func run() throws {
        let connection = try agent.distroConnection()
        guard Terminal.stdinIsTerminal else {
            // A script on stdin, as dbg shell does it: sh -l reads it from a pipe.
            let request = Distro.RunStartRequest(command: WireBytes("sh -l"), workdir: WireBytes(context.workdir), bind: context.bind,
                                                 env: context.env, terminal: false, rows: 0, cols: 0, timeoutSec: 0)
            let started = try attempt("distro shell") { try connection.distroStartRun(request) }
            let session = RemoteProcessSession(connection: connection, channel: .distro(connection, process: started.processID),
                                               started: started, terminal: false, what: "distro shell", timeoutSeconds: 0)
            throw ExitCode(try session.run(forwardInput: true))
        }
        let (rows, cols) = LocalTerminal.size()
        let request = Distro.ShellOpenRequest(workdir: WireBytes(context.workdir), bind: context.bind, env: context.env,
                                              rows: rows, cols: cols)
        let shell = try attempt("distro shell") { try connection.distroOpenShell(request) }
        try ShellSession(
            connection: connection, shell: shell, outputEvent: Distro.Event.shellOutput.rawValue,
            exitEvent: Distro.Event.shellExit.rawValue,
            input: { data throws(ClientError) in try connection.distroShellInput(shell: shell, data) },
            resize: { rows, cols throws(ClientError) in try connection.distroResizeShell(shell: shell, rows: rows, cols: cols) }
        ).run(what: "distro shell")
    }
}
