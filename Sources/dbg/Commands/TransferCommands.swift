import DbgClient
import DbgWire
import Glibc

/// What push and pull share.
struct TransferOptions {
    static let specs: [OptionSpec] = [
        .flag("quiet", "q", "No progress line."),
        .flag("verify", nil, "Check each file with SHA-256 on both sides, computed while the bytes move."),
        .flag("resume", nil, "Continue a partial earlier transfer after checking the part already there."),
        .option("chunk-kib", nil, "KIB", "Chunk size in KiB (default 256)."),
        .option("window", nil, "N", "Chunk requests in flight (default 8)."),
        .json("Print one JSON line per file copied (source, target, bytes, seconds, resumed_from, verified)."),
    ]

    let quiet: Bool
    let verify: Bool
    let resume: Bool
    let chunkKiB: Int
    let window: Int
    let json: Bool

    /// For commands that copy as part of their work (deploy, backup): whole files, checked.
    init(quiet: Bool, verify: Bool) {
        self.quiet = quiet
        self.verify = verify
        resume = false
        chunkKiB = 256
        window = 8
        json = false
    }

    init(_ arguments: ParsedArguments) throws {
        quiet = arguments.flag("quiet")
        verify = arguments.flag("verify")
        resume = arguments.flag("resume")
        chunkKiB = try arguments.int("chunk-kib", 256, in: 1...16_384)
        window = try arguments.int("window", 8, in: 1...256)
        json = arguments.flag("json")
    }

    func files(_ login: LoggedInAgent) -> RemoteFiles {
        var files = login.files
        files.chunk = chunkKiB << 10
        files.window = window
        return files
    }

    /// The line --json prints once a file is in place.
    func report(_ source: String, _ target: String, bytes: UInt64, resumedFrom: UInt64, since start: Int64) {
        guard json else { return }
        let seconds = Format.fixed(MonotonicClock.seconds(since: start), 3)
        print(#"{"source":\#(jsonString(source)),"target":\#(jsonString(target)),"bytes":\#(bytes),"seconds":\#(seconds),"#
            + #""resumed_from":\#(resumedFrom),"verified":\#(verify)}"#)
    }
}

/// Remote paths are joined with '/', whatever they are.
func remoteJoin(_ directory: String, _ name: String) -> String {
    directory.hasSuffix("/") ? directory + name : directory + "/" + name
}

/// A file being copied lives under ".NAME.dbg-part" beside its target (on the board or
/// here) until it is complete, so the last step is a rename and a failure leaves nothing
/// under the final name.
func partialName(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." + path + ".dbg-part" }
    return String(path[...slash]) + "." + path[path.index(after: slash)...] + ".dbg-part"
}

struct Push: Command {
    static let spec = CommandSpec(
        name: "push",
        abstract: "Copy files or directories to the board.",
        discussion: "Each file is written under a temporary name beside its target, then renamed: an interrupted push never leaves a partial file under the final name.",
        options: TransferOptions.specs,
        arguments: [.many("LOCAL... REMOTE", atLeast: 2, "Local files or directories, then the remote target.")])

    let agent: AgentOptions
    let options: TransferOptions
    let paths: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        options = try TransferOptions(arguments)
        paths = arguments.arguments
    }

    func run() throws {
        let login = try agent.login()
        let files = options.files(login)
        let sources = Array(paths.dropLast())
        let target = paths.last!
        let targetIsDirectory = (try? files.stat(target))?.type == Dbg.FileType.directory.rawValue
        for source in sources {
            let destination = targetIsDirectory || sources.count > 1
                ? remoteJoin(target, LocalPath(source).name) : target
            try attempt("push \(source)") { try Transfer(options: options, files: files).push(source, to: destination) }
        }
    }
}

struct Pull: Command {
    static let spec = CommandSpec(
        name: "pull",
        abstract: "Copy files or directories from the board.",
        discussion: "Each file is written under a temporary name beside its target, then renamed: an interrupted pull never leaves a partial file under the final name.",
        options: TransferOptions.specs,
        arguments: [.many("REMOTE... LOCAL", atLeast: 2, "Remote files or directories, then the local target.")])

    let agent: AgentOptions
    let options: TransferOptions
    let paths: [String]

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        options = try TransferOptions(arguments)
        paths = arguments.arguments
    }

    func run() throws {
        let login = try agent.login()
        let files = options.files(login)
        let sources = Array(paths.dropLast())
        let target = paths.last!
        let targetIsDirectory = LocalPath(target).isDirectory
        for source in sources {
            let name = source.split(separator: "/").last.map(String.init) ?? source
            let destination = targetIsDirectory || sources.count > 1 ? target + "/" + name : target
            try attempt("pull \(source)") { try Transfer(options: options, files: files).pull(source, to: destination) }
        }
    }
}

/// SHA-256 state after a local file's first `length` bytes (0: none, a fresh hasher).
func prefixHasher(_ path: String, length: UInt64) throws -> SHA256 {
    length == 0 ? SHA256() : try localHasher(path, length: length)
}

/// SHA-256 state after a local file's first `length` bytes (0: all of it).
func localHasher(_ path: String, length: UInt64) throws -> SHA256 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw LocalFailure("cannot open \(path)") }
    defer { close(fd) }
    var hasher = SHA256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var done: UInt64 = 0
    while length == 0 || done < length {
        let want = length == 0 ? buffer.count : Int(min(UInt64(buffer.count), length - done))
        let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
        guard got > 0 else { break }
        buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
        done += UInt64(got)
    }
    return hasher
}
