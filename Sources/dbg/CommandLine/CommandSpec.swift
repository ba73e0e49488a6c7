/// What a command is on the command line: its name, what it says about itself in help and
/// in the manual page, its options and its arguments. The parser, `dbg --help` and
/// `dbg.1` are all made from these values, so they cannot disagree.
struct CommandSpec: Sendable {
    var name: String
    var abstract: String
    var discussion = ""
    /// The root's options are everyone's: they go before a command's name or after it
    /// (the target and login). A command's own options go after its name.
    var options: [OptionSpec] = []
    var arguments: [ArgumentSpec] = []
    var subcommands: [CommandSpec] = []
    /// Runs the command with what was parsed; nil for a group (`distro`) that only holds
    /// subcommands.
    var run: (@Sendable (ParsedArguments) throws -> Void)?

    func subcommand(named word: String) -> CommandSpec? { subcommands.first { $0.name == word } }
}

/// A command: its spec, how it reads what was parsed, and what it does.
protocol Command: SendableMetatype {
    static var spec: CommandSpec { get }
    init(_ arguments: ParsedArguments) throws
    func run() throws
}

extension Command {
    /// The spec, ready to run.
    static var node: CommandSpec {
        var node = spec
        node.run = { try Self($0).run() }
        return node
    }
}

struct OptionSpec: Sendable {
    /// Without the dashes: "host".
    let long: String
    let short: Character?
    /// What the value is called in help ("TARGET"); nil for a flag.
    let value: String?
    let help: String
    /// Left out of help and the manual (kept for scripts).
    var hidden = false

    static func flag(_ long: String, _ short: Character? = nil, _ help: String) -> OptionSpec {
        OptionSpec(long: long, short: short, value: nil, help: help)
    }

    static func option(_ long: String, _ short: Character? = nil, _ value: String, _ help: String) -> OptionSpec {
        OptionSpec(long: long, short: short, value: value, help: help)
    }

    /// How help shows it: "-H, --host TARGET".
    var synopsis: String {
        let names = (short.map { "-\($0), " } ?? "") + "--" + long
        return value.map { names + " " + $0 } ?? names
    }
}

struct ArgumentSpec: Sendable {
    enum Count: Equatable, Sendable {
        case one, optional
        /// At least this many: the rest of the words.
        case many(Int)
        /// The rest of the line word for word, options included, from the first word that
        /// is not one of the command's options (or from after "--"): a remote command line.
        case passthrough
    }

    let name: String
    let count: Count
    let help: String

    static func one(_ name: String, _ help: String) -> ArgumentSpec { ArgumentSpec(name: name, count: .one, help: help) }
    static func optional(_ name: String, _ help: String) -> ArgumentSpec { ArgumentSpec(name: name, count: .optional, help: help) }
    static func many(_ name: String, atLeast: Int, _ help: String) -> ArgumentSpec {
        ArgumentSpec(name: name, count: .many(atLeast), help: help)
    }

    /// How usage lines show it: "PATH", "[PATH]", "PATH...", "[--] PROGRAM [ARG...]".
    var synopsis: String {
        switch count {
        case .one: return name
        case .optional: return "[" + name + "]"
        case .many(let least):
            let repeated = name.hasSuffix("...") || name.contains(" ") ? name : name + "..."
            return least == 0 ? "[" + repeated + "]" : repeated
        case .passthrough: return "[--] " + name
        }
    }
}

/// A mistake on the command line: one line on stderr, exit 64.
struct ValidationError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

/// Ends dbg with this status (after what needed saying was said).
struct ExitCode: Error {
    let status: Int32
    init(_ status: Int32) { self.status = status }
}
