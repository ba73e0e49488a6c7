import CSys
import DbgWire

/// The application directory (`--app-dir`, see board/README.md):
///
///     main                      what `start` runs, supervised
///     init, exit, callback      hooks (optional)
///     actions/NAME/run          an action: input JSON on stdin, result JSON on stdout
///     actions/NAME/input.json   what getInput returns (optional)
///     backup/create             writes a backup archive to stdout, or
///     backup/paths              what the agent archives itself, one path a line
///
/// Everything here is looked at as the application's user: a symbolic link in the
/// directory reaches only what that user could read.
struct AppDirectory {
    let path: [UInt8]
    /// Whose files these are, and who runs them.
    let user: UserAccount

    static let maxActionName = 64
    /// input.json and backup/paths are read whole, up to this.
    static let maxSmallFile = 1 << 20

    func file(_ relative: String) -> [UInt8] { path + [UInt8(ascii: "/")] + Array(relative.utf8) }

    func action(_ name: [UInt8], _ file: String) -> [UInt8] {
        path + Array("/actions/".utf8) + name + [UInt8(ascii: "/")] + Array(file.utf8)
    }

    /// An action's name: letters, digits, '.', '_' and '-', not starting with '.'; so it
    /// is always one directory entry under actions/.
    static func isActionName(_ name: [UInt8]) -> Bool {
        guard !name.isEmpty, name.count <= maxActionName, name[0] != UInt8(ascii: ".") else { return false }
        return name.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            default:
                return false
            }
        }
    }

    /// What is at `file`, as the user: nil when nothing is.
    func type(of file: [UInt8]) throws(ServiceError) -> Dbg.FileType? {
        var status = stat()
        do throws(Errno) {
            try UserFiles.run(as: UserEnvironment.identity(for: user)) { () throws(Errno) in
                try PathWalk.at(file, followLast: true) { directory, name throws(Errno) in
                    if FileTree.withCPath(name, { fstatat(directory, $0, &status, 0) }) != 0 { throw .current }
                }
            }
        } catch {
            if error == .noEntry || error == .notDirectory { return nil }
            throw ServiceError(error, path: file)
        }
        return FileTree.type(status.st_mode)
    }

    func exists(_ file: [UInt8]) throws(ServiceError) -> Bool { try type(of: file) != nil }

    /// The names under actions/ that have a `run`, sorted.
    func actionNames() throws(ServiceError) -> [[UInt8]] {
        var names: [[UInt8]] = []
        let directory = file("actions")
        do throws(Errno) {
            try UserFiles.run(as: UserEnvironment.identity(for: user)) { () throws(Errno) in
                let fd = FileTree.withCPath(directory) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY) }
                guard fd >= 0 else { throw .current }
                defer { FileDescriptor(fd).close() }
                try FileTree.forEachEntry(fd) { name, _ in
                    if AppDirectory.isActionName(name), names.count < 4096 { names.append(name) }
                    return true
                }
            }
        } catch {
            if error == .noEntry { return [] }
            throw ServiceError(error, path: directory)
        }
        var runnable: [[UInt8]] = []
        for name in names where try type(of: action(name, "run")) == .regular { runnable.append(name) }
        return runnable.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// A small regular file's bytes (input.json, backup/paths), read as the user; nil
    /// when it does not exist.
    func read(_ file: [UInt8]) throws(ServiceError) -> [UInt8]? {
        guard try exists(file) else { return nil }
        guard try type(of: file) == .regular else {
            throw ServiceError(.badRequest, String(decoding: file, as: UTF8.self) + ": not a regular file")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: AppDirectory.maxSmallFile + 1, alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        do throws(Errno) {
            let fd = try UserFiles.open(file, for: .read, mode: 0, as: UserEnvironment.identity(for: user))
            defer { fd.close() }
            while filled < buffer.count {
                let got = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if got == 0 { break }
                filled += got
            }
        } catch {
            throw ServiceError(error, path: file)
        }
        guard filled <= AppDirectory.maxSmallFile else {
            throw ServiceError(.tooLarge, String(decoding: file, as: UTF8.self) + ": larger than 1 MiB")
        }
        return Array(buffer[0..<filled])
    }

    /// backup/paths: one path a line, absolute or under the app directory; blank lines
    /// and lines starting with '#' are skipped.
    func backupPaths(_ text: [UInt8]) -> [[UInt8]] {
        text.split(separator: UInt8(ascii: "\n")).compactMap { line in
            var entry = Array(line)
            while let last = entry.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\r") || last == UInt8(ascii: "\t") {
                entry.removeLast()
            }
            guard let first = entry.first, first != UInt8(ascii: "#"), !entry.contains(0) else { return nil }
            return first == UInt8(ascii: "/") ? entry : path + [UInt8(ascii: "/")] + entry
        }
    }
}
