
/// `dbg boards`: the named boards of the config file.
struct Boards: Command {
    static let spec = CommandSpec(
        name: "boards",
        abstract: "List the boards named in the config file (for -b NAME).",
        discussion: """
            The file is DBG_CONFIG, else $XDG_CONFIG_HOME/dbg/config, else ~/.config/dbg/config: \
            sections [NAME] with lines KEY = VALUE, keys host (any -H target), port (when host names \
            none), user, password-file, connect-timeout, wait, tls (yes: as tls://) and fingerprint \
            (the board key to trust over TLS); # starts a comment. For example:

              [lab-3]
              host = 10.0.0.23
              user = tester
              password-file = ~/.config/dbg/lab-3.password

            dbg -b lab-3 exec -- uname -a then reaches it. A line the file cannot mean is an error \
            that names the file and the line (exit 64).
            """,
        options: [.json("Print a JSON array.")])

    let json: Bool

    init(_ arguments: ParsedArguments) throws { json = arguments.flag("json") }

    func run() throws {
        let config = try BoardConfig.loadForCommand()
        if json {
            let entries = config.boards.map { board in
                "{" + [("name", board.name), ("host", board.target), ("user", board.user), ("passwordFile", board.passwordFile)]
                    .compactMap { key, value in value.map { "\"\(key)\":\(jsonString($0))" } }.joined(separator: ",") + "}"
            }
            print("[" + entries.joined(separator: ",") + "]")
            return
        }
        guard !config.boards.isEmpty else {
            Terminal.error("dbg: no boards: \(config.path) \(LocalPath(config.path).exists ? "names none" : "does not exist")")
            return
        }
        let width = config.boards.map(\.name.count).max() ?? 0
        for board in config.boards {
            let name = board.name.rightPadded(width)
            print("\(name)  \(board.target ?? "(no host)")" + (board.user.map { "  user \($0)" } ?? ""))
        }
    }
}
