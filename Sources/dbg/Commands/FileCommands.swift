import ArgumentParser
import DbgClient
import DbgWire
import Foundation

extension LoggedInAgent {
    var files: RemoteFiles { RemoteFiles(connection: connection, token: token) }
}

struct Ls: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a directory on the board.")

    @OptionGroup var agent: AgentOptions
    @Flag(name: .shortAndLong, help: "Long format: type, mode, size, time.") var long = false
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Directory (default: home).") var path: String = "."

    func run() throws {
        let login = try agent.login()
        let entries = try attempt("ls \(path)") { try login.files.list(path) }.sorted { $0.name.string < $1.name.string }
        if json {
            print("[" + entries.map { entryJSON($0) }.joined(separator: ",") + "]")
        } else if long {
            for entry in entries {
                print("\(typeLetter(entry.type))\(modeString(entry.mode)) \(String(entry.size).leftPadded(10)) \(timeString(entry.mtime)) \(entry.name.string)")
            }
        } else {
            for entry in entries { print(entry.name.string) }
        }
    }
}

struct Stat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a file's type, mode, owner, size and time.")

    @OptionGroup var agent: AgentOptions
    @Flag(help: "Print JSON.") var json = false
    @Argument var path: String

    func run() throws {
        let login = try agent.login()
        let info = try attempt("stat \(path)") { try login.files.stat(path) }
        if json {
            print(#"{"path":\#(jsonString(path)),"type":"\#(typeName(info.type))","mode":\#(info.mode),"uid":\#(info.uid),"#
                + #""gid":\#(info.gid),"size":\#(info.size),"mtime":\#(info.mtime)}"#)
        } else {
            print("\(path): \(typeName(info.type)), mode \(String(info.mode, radix: 8)), uid \(info.uid), gid \(info.gid), "
                + "\(info.size) bytes, modified \(timeString(info.mtime))")
        }
    }
}

struct Mkdir: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a directory on the board.")

    @OptionGroup var agent: AgentOptions
    @Flag(name: .shortAndLong, help: "Create parents as needed; an existing directory is fine.") var parents = false
    @Option(name: .shortAndLong, help: "Mode in octal (default 755).") var mode: String = "755"
    @Argument var path: String

    func run() throws {
        guard let bits = UInt32(mode, radix: 8), bits <= 0o7777 else { throw ValidationError("--mode '\(mode)' is not an octal mode") }
        let login = try agent.login()
        try attempt("mkdir \(path)") { try login.files.makeDirectory(path, mode: bits, parents: parents) }
    }
}

struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove files or directories on the board.")

    @OptionGroup var agent: AgentOptions
    @Flag(name: .shortAndLong, help: "Remove directories and everything in them (symlinks are not followed).") var recursive = false
    @Argument var paths: [String]

    func run() throws {
        let login = try agent.login()
        for path in paths { try attempt("rm \(path)") { try login.files.remove(path, recursive: recursive) } }
    }
}

struct Mv: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rename or move a file on the board.")

    @OptionGroup var agent: AgentOptions
    @Flag(name: .shortAndLong, help: "Do not replace an existing target.") var noClobber = false
    @Argument var from: String
    @Argument var to: String

    func run() throws {
        let login = try agent.login()
        try attempt("mv \(from) \(to)") { try login.files.rename(from, to: to, replace: !noClobber) }
    }
}

struct Cat: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write files from the board to stdout.")

    @OptionGroup var agent: AgentOptions
    @Argument var paths: [String]

    func run() throws {
        let login = try agent.login()
        for path in paths {
            _ = try attempt("cat \(path)") {
                try login.files.read(path) { (bytes) throws(ClientError) in try writeAll(1, bytes, to: "stdout") }
            }
        }
    }
}

struct Hash: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "SHA-256 of files on the board, computed there (like sha256sum).")

    @OptionGroup var agent: AgentOptions
    @Flag(help: "Print JSON.") var json = false
    @Argument var paths: [String]

    func run() throws {
        let login = try agent.login()
        for path in paths {
            let (digest, length) = try attempt("hash \(path)") { try login.files.hash(path) }
            let hex = digest.map { String(format: "%02x", $0) }.joined()
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
    switch Dbg.FileType(rawValue: type) ?? .unknown {
    case .directory: return "d"
    case .symlink: return "l"
    case .characterDevice: return "c"
    case .blockDevice: return "b"
    case .fifo: return "p"
    case .socket: return "s"
    default: return "-"
    }
}

func modeString(_ mode: UInt32) -> String {
    let letters = Array("rwxrwxrwx")
    return String((0..<9).map { mode & (0o400 >> UInt32($0)) != 0 ? letters[$0] : "-" })
}

func timeString(_ seconds: Int64) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "yyyy-MM-dd HH:mm"
    return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
}

func entryJSON(_ entry: Dbg.DirEntry) -> String {
    #"{"name":\#(jsonString(entry.name.string)),"type":"\#(typeName(entry.type))","mode":\#(entry.mode),"#
        + #""size":\#(entry.size),"mtime":\#(entry.mtime)}"#
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
