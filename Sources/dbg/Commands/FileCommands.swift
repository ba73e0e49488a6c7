import DbgClient
import DbgWire

extension LoggedInAgent {
    var files: RemoteFiles { RemoteFiles(connection: connection, token: token) }
}

extension OptionSpec {
    static func json(_ shape: String = "Print JSON.") -> OptionSpec { .flag("json", nil, shape) }
}

struct Ls: Command {
    static let spec = CommandSpec(
        name: "ls", abstract: "List a directory on the board.",
        options: [.flag("long", "l", "Long format: type, mode, size, time."), .json()],
        arguments: [.optional("PATH", "Directory (default: home).")])

    let agent: AgentOptions
    let long: Bool
    let json: Bool
    let path: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        long = arguments.flag("long")
        json = arguments.flag("json")
        path = arguments.arguments.first ?? "."
    }

    func run() throws {
        let login = try agent.login()
        let entries = try attempt("ls \(path)") { try login.files.list(path) }.sorted { $0.name.string < $1.name.string }
        if json {
            print("[" + entries.map { entryJSON($0) }.joined(separator: ",") + "]")
        } else if long {
            for entry in entries {
                print(typeLetter(entry.type) + modeString(entry.mode) + " " + String(entry.size).leftPadded(10) + " "
                    + Format.localTime(entry.mtime) + " " + entry.name.string)
            }
        } else {
            for entry in entries { print(entry.name.string) }
        }
    }
}

struct Stat: Command {
    static let spec = CommandSpec(
        name: "stat", abstract: "Show a file's type, mode, owner, size and time.",
        options: [.json()], arguments: [.one("PATH", "")])

    let agent: AgentOptions
    let json: Bool
    let path: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
        path = arguments.arguments[0]
    }

    func run() throws {
        let login = try agent.login()
        let info = try attempt("stat \(path)") { try login.files.stat(path) }
        if json {
            print(#"{"path":\#(jsonString(path)),"type":"\#(typeName(info.type))","mode":\#(info.mode),"uid":\#(info.uid),"#
                + #""gid":\#(info.gid),"size":\#(info.size),"mtime":\#(info.mtime)}"#)
        } else {
            print("\(path): \(typeName(info.type)), mode \(String(info.mode, radix: 8)), uid \(info.uid), gid \(info.gid), "
                + "\(info.size) bytes, modified \(Format.localTime(info.mtime))")
        }
    }
}

struct Mkdir: Command {
    static let spec = CommandSpec(
        name: "mkdir", abstract: "Create a directory on the board.",
        options: [.flag("parents", "p", "Create parents as needed; an existing directory is fine."),
                  .option("mode", "m", "OCTAL", "Mode in octal (default 755).")],
        arguments: [.one("PATH", "")])

    let agent: AgentOptions
    let parents: Bool
    let mode: UInt32
    let path: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        parents = arguments.flag("parents")
        let text = arguments.value("mode") ?? "755"
        guard let bits = UInt32(text, radix: 8), bits <= 0o7777 else { throw ValidationError("--mode '\(text)' is not an octal mode") }
        mode = bits
        path = arguments.arguments[0]
    }

    func run() throws {
        let login = try agent.login()
        try attempt("mkdir \(path)") { try login.files.makeDirectory(path, mode: mode, parents: parents) }
    }
}

struct Rm: Command {
    static let spec = CommandSpec(
        name: "rm", abstract: "Remove files or directories on the board.",
        options: [.flag("recursive", "r", "Remove directories and everything in them (symlinks are not followed).")],
        arguments: [.many("PATH", atLeast: 1, "")])

    let agent: AgentOptions
    let recursive: Bool
    let paths: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        recursive = arguments.flag("recursive")
        paths = arguments.arguments
    }

    func run() throws {
        let login = try agent.login()
        for path in paths { try attempt("rm \(path)") { try login.files.remove(path, recursive: recursive) } }
    }
}

struct Mv: Command {
    static let spec = CommandSpec(
        name: "mv", abstract: "Rename or move a file on the board.",
        options: [.flag("no-clobber", "n", "Do not replace an existing target.")],
        arguments: [.one("FROM", ""), .one("TO", "")])

    let agent: AgentOptions
    let noClobber: Bool
    let from: String
    let to: String

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        noClobber = arguments.flag("no-clobber")
        from = arguments.arguments[0]
        to = arguments.arguments[1]
    }

    func run() throws {
        let login = try agent.login()
        try attempt("mv \(from) \(to)") { try login.files.rename(from, to: to, replace: !noClobber) }
    }
}

struct Cat: Command {
    static let spec = CommandSpec(name: "cat", abstract: "Write files from the board to stdout.",
                                  arguments: [.many("PATH", atLeast: 1, "")])

    let agent: AgentOptions
    let paths: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        paths = arguments.arguments
    }

    func run() throws {
        let login = try agent.login()
        for path in paths {
            _ = try attempt("cat \(path)") {
                try login.files.read(path) { (bytes) throws(ClientError) in try writeAll(1, bytes, to: "stdout") }
            }
        }
    }
}

struct Hash: Command {
    static let spec = CommandSpec(name: "hash", abstract: "SHA-256 of files on the board, computed there (like sha256sum).",
                                  options: [.json()], arguments: [.many("PATH", atLeast: 1, "")])

    let agent: AgentOptions
    let json: Bool
    let paths: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
        paths = arguments.arguments
    }

    func run() throws {
        let login = try agent.login()
        for path in paths {
            let (digest, length) = try attempt("hash \(path)") { try login.files.hash(path) }
            let hex = Format.hex(digest)
            print(json ? #"{"path":\#(jsonString(path)),"sha256":"\#(hex)","size":\#(length)}"# : "\(hex)  \(path)")
        }
    }
}

func typeName(_ type: UInt32) -> String {
    switch Dbg.FileType(rawValue: type) ?? .unknown {
    case .regular: return "file"
    case .directory: return "directory"
    case .symlink: return "symlink"
    case .characterDevice: return "character device"
    case .blockDevice: return "block device"
    case .fifo: return "fifo"
    case .socket: return "socket"
    case .unknown: return "unknown"
    }
}

func typeLetter(_ type: UInt32) -> String {
    String(UnicodeScalar(Dbg.FileType.lsLetter(type)))
}

func modeString(_ mode: UInt32) -> String {
    let letters = Array("rwxrwxrwx")
    return String((0..<9).map { mode & (0o400 >> UInt32($0)) != 0 ? letters[$0] : "-" })
}

func entryJSON(_ entry: Dbg.DirEntry) -> String {
    #"{"name":\#(jsonString(entry.name.string)),"type":"\#(typeName(entry.type))","mode":\#(entry.mode),"#
        + #""size":\#(entry.size),"mtime":\#(entry.mtime)}"#
}
