import ArgumentParser
import DbgClient
import DbgWire
import Foundation

/// What push and pull share.
struct TransferOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "No progress line.") var quiet = false
    @Flag(help: "Compare SHA-256 on both sides after each file.") var verify = false
    @Flag(help: "Continue a partial earlier transfer after checking the part already there.") var resume = false
    @Option(name: .customLong("chunk-kib"), help: "Chunk size in KiB.") var chunkKiB: Int = 256
    @Option(help: "Chunk requests in flight.") var window: Int = 8
    @Flag(help: "Print one JSON line per file copied (source, target, bytes, seconds, resumed_from, verified).")
    var json = false

    func files(_ login: LoggedInAgent) -> RemoteFiles {
        var files = login.files
        files.chunk = max(1, chunkKiB) << 10
        files.window = max(1, window)
        return files
    }

    /// The line --json prints once a file is in place.
    func report(_ source: String, _ target: String, bytes: UInt64, resumedFrom: UInt64, since start: Date) {
        guard json else { return }
        let seconds = String(format: "%.3f", Date().timeIntervalSince(start))
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

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy files or directories to the board.",
        discussion: "Each file is written under a temporary name beside its target, then renamed: an interrupted push never leaves a partial file under the final name."
    )

    @OptionGroup var agent: AgentOptions
    @OptionGroup var options: TransferOptions
    @Argument(help: "Local files or directories, then the remote target.") var paths: [String]

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("usage: dbg push LOCAL... REMOTE") }
    }

    func run() throws {
        let login = try agent.login()
        let files = options.files(login)
        let sources = Array(paths.dropLast())
        let target = paths.last!
        let targetIsDirectory = (try? files.stat(target))?.type == Dbg.FileType.directory.rawValue
        for source in sources {
            let destination = targetIsDirectory || sources.count > 1
                ? remoteJoin(target, URL(fileURLWithPath: source).lastPathComponent) : target
            try attempt("push \(source)") { try push(source, to: destination, files) }
        }
    }

    private func push(_ source: String, to destination: String, _ files: RemoteFiles) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw LocalFailure("no such file or directory")
        }
        let mode = UInt32(((try? FileManager.default.attributesOfItem(atPath: source)[.posixPermissions]) as? Int) ?? 0o644)
        if isDirectory.boolValue {
            try files.makeDirectory(destination, mode: mode, parents: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
                try push(source + "/" + name, to: remoteJoin(destination, name), files)
            }
            return
        }
        try pushFile(source, to: destination, mode: mode, files)
    }

    private func pushFile(_ source: String, to destination: String, mode: UInt32, _ files: RemoteFiles) throws {
        guard let input = FileHandle(forReadingAtPath: source) else { throw LocalFailure("cannot open \(source)") }
        defer { try? input.close() }
        let size = UInt64((try? FileManager.default.attributesOfItem(atPath: source)[.size] as? Int) ?? 0)
        let started = Date()
        let partial = partialName(destination)
        var start: UInt64 = 0
        // --verify hashes the bytes as they go out, on a thread of its own; a resumed copy
        // starts from its prefix.
        if options.resume, let existing = try? files.stat(partial), existing.size > 0, existing.size <= size,
           try files.hash(partial, offset: 0, length: existing.size).digest == localHasher(source, length: existing.size).finish() {
            start = existing.size
        }
        let hasher = options.verify ? BackgroundHasher(continuing: try prefixHasher(source, length: start)) : nil
        try input.seek(toOffset: start)
        let progress = ProgressLine(URL(fileURLWithPath: source).lastPathComponent, total: size, quiet: options.quiet)
        try files.write(partial, at: start, truncate: start == 0, mode: mode, from: { (buffer) throws(ClientError) -> Int in
            let count = read(input.fileDescriptor, buffer.baseAddress, buffer.count)
            guard count >= 0 else { throw .io("reading \(source): \(String(cString: strerror(errno)))") }
            hasher?.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            return count
        }, progress: { progress.update(start + $0) })
        progress.finish(size)
        if let hasher, try files.hash(partial).digest != hasher.finish() {
            throw LocalFailure("the copy on the board differs from \(source) (SHA-256); left as \(partial)")
        }
        try files.rename(partial, to: destination, replace: true)
        options.report(source, destination, bytes: size, resumedFrom: start, since: started)
    }
}

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy files or directories from the board.",
        discussion: "Each file is written under a temporary name beside its target, then renamed: an interrupted pull never leaves a partial file under the final name."
    )

    @OptionGroup var agent: AgentOptions
    @OptionGroup var options: TransferOptions
    @Argument(help: "Remote files or directories, then the local target.") var paths: [String]

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("usage: dbg pull REMOTE... LOCAL") }
    }

    func run() throws {
        let login = try agent.login()
        let files = options.files(login)
        let sources = Array(paths.dropLast())
        let target = paths.last!
        var isDirectory: ObjCBool = false
        let targetIsDirectory = FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) && isDirectory.boolValue
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
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
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
        let started = Date()
        var start: UInt64 = 0
        if options.resume, let size = (try? FileManager.default.attributesOfItem(atPath: partial)[.size]) as? Int, size > 0,
           UInt64(size) <= info.size,
           try files.hash(source, offset: 0, length: UInt64(size)).digest == localHasher(partial, length: UInt64(size)).finish() {
            start = UInt64(size)
        }
        let fd = open(partial, O_WRONLY | O_CREAT | (start == 0 ? O_TRUNC : 0), 0o600)
        guard fd >= 0 else { throw LocalFailure("cannot create \(partial): \(String(cString: strerror(errno)))") }
        var closed = false
        defer { if !closed { close(fd) } }
        lseek(fd, off_t(start), SEEK_SET)
        let progress = ProgressLine(URL(fileURLWithPath: source).lastPathComponent, total: info.size, quiet: options.quiet)
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
