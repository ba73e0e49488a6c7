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
            try attempt("push \(source)") { try push(source, to: destination, files) }
        }
    }

    private func push(_ source: String, to destination: String, _ files: RemoteFiles) throws {
        let local = LocalPath(source)
        guard let mode = local.permissions else { throw LocalFailure("no such file or directory") }
        if local.isDirectory {
            try files.makeDirectory(destination, mode: mode, parents: true)
            for name in try local.entries() {
                try push(source + "/" + name, to: remoteJoin(destination, name), files)
            }
            return
        }
        try pushFile(source, to: destination, mode: mode, files)
    }

    private func pushFile(_ source: String, to destination: String, mode: UInt32, _ files: RemoteFiles) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw LocalFailure("cannot open \(source): " + describeErrno()) }
        defer { close(input) }
        let size = LocalPath(source).size ?? 0
        let started = MonotonicClock.nanoseconds()
        let partial = partialName(destination)
        var start: UInt64 = 0
        // --verify hashes the bytes as they go out, on a thread of its own; a resumed copy
        // starts from its prefix.
        if options.resume, let existing = try? files.stat(partial), existing.size > 0, existing.size <= size,
           try files.hash(partial, offset: 0, length: existing.size).digest == localHasher(source, length: existing.size).finish() {
            start = existing.size
        }
        // The prefix of a resumed copy was compared above; the rest in segments, as the
        // board hashes them while the push goes on.
        let hasher = options.verify ? BackgroundHasher(segment: RemoteFiles.hashSegment) : nil
        guard lseek(input, off_t(start), SEEK_SET) == off_t(start) else { throw LocalFailure("cannot seek in \(source)") }
        let progress = ProgressLine(LocalPath(source).name, total: size, quiet: options.quiet)
        let fill = { (buffer: UnsafeMutableRawBufferPointer) throws(ClientError) -> Int in
            let count = read(input, buffer.baseAddress, buffer.count)
            guard count >= 0 else { throw .io("reading \(source): \(String(cString: strerror(errno)))") }
            hasher?.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            return count
        }
        if let hasher {
            let remote = try files.writeHashing(partial, at: start, truncate: start == 0, mode: mode, from: fill,
                                                progress: { progress.update(start + $0) })
            progress.finish(size)
            guard remote == hasher.finishSegments() else {
                throw LocalFailure("the copy on the board differs from \(source) (SHA-256); left as \(partial)")
            }
        } else {
            try files.write(partial, at: start, truncate: start == 0, mode: mode, from: fill, progress: { progress.update(start + $0) })
            progress.finish(size)
        }
        try files.rename(partial, to: destination, replace: true)
        options.report(source, destination, bytes: size, resumedFrom: start, since: started)
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
            try attempt("pull \(source)") { try pull(source, to: destination, files) }
        }
    }

    private func pull(_ source: String, to destination: String, _ files: RemoteFiles) throws {
        let info = try files.stat(source)
        switch Dbg.FileType(rawValue: info.type) {
        case .directory:
            try LocalPath(destination).makeDirectories()
            chmod(destination, mode_t(info.mode))
            for entry in try files.list(source) {
                try pull(remoteJoin(source, entry.name.string), to: destination + "/" + entry.name.string, files)
            }
        case .regular:
            try pullFile(source, to: destination, info: info, files)
        default:
            Terminal.error("dbg: pull \(source): skipped (a \(typeName(info.type)), not a file or directory)")
        }
    }

    private func pullFile(_ source: String, to destination: String, info: Dbg.FileInfo, _ files: RemoteFiles) throws {
        let partial = partialName(destination)
        let started = MonotonicClock.nanoseconds()
        var start: UInt64 = 0
        if options.resume, let size = LocalPath(partial).size, size > 0, size <= info.size,
           try files.hash(source, offset: 0, length: size).digest == localHasher(partial, length: size).finish() {
            start = size
        }
        let fd = open(partial, O_WRONLY | O_CREAT | (start == 0 ? O_TRUNC : 0), 0o600)
        guard fd >= 0 else { throw LocalFailure("cannot create \(partial): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        lseek(fd, off_t(start), SEEK_SET)
        let progress = ProgressLine(LocalPath(source).name, total: info.size, quiet: options.quiet)
        var done = start
        // With --verify the board hashes its file while it is being read, and so does dbg
        // what arrives, on a thread of its own.
        let hasher = options.verify ? BackgroundHasher(continuing: try prefixHasher(partial, length: start)) : nil
        func receive(_ bytes: UnsafeRawBufferPointer) throws(ClientError) {
            try writeAll(fd, bytes, to: partial)
            hasher?.feed(bytes)
            done += UInt64(bytes.count)
            progress.update(done)
        }
        var remoteDigest: [UInt8] = []
        if options.verify {
            remoteDigest = try files.readHashing(source, from: start, receive).digest
        } else {
            try files.read(source, from: start, receive)
        }
        progress.finish(done)
        fchmod(fd, mode_t(info.mode))
        // On disk before it takes the final name: a crash must not leave an empty file there.
        guard fsync(fd) == 0 else { throw LocalFailure("cannot write \(partial): \(String(cString: strerror(errno)))") }
        close(fd)
        closed = true
        if let hasher, remoteDigest != hasher.finish() {
            throw LocalFailure("\(partial) differs from the file on the board (SHA-256)")
        }
        guard rename(partial, destination) == 0 else { throw LocalFailure("cannot rename \(partial) to \(destination)") }
        options.report(source, destination, bytes: done, resumedFrom: start, since: started)
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
