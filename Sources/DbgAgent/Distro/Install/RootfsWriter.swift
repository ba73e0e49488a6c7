import CSys
import DbgWire

/// Creates archive entries under a directory without ever leaving it. Entry paths are
/// refused when absolute or when they contain "..". Every directory on the way is opened
/// with O_NOFOLLOW relative to the one before, so an entry cannot write through a symlink
/// an earlier entry made (a symlink is created as it is, and only followed later, inside
/// the container, where it cannot point out). Owners, modes and mtimes are applied as
/// the archive says (owners only when the agent is root).
struct RootfsWriter: ~Copyable {
    private let top: Int32
    private let applyOwners: Bool
    /// The last parent directory opened, reused while entries stay in it.
    private var cachedPath: [[UInt8]]?
    private var cachedDirectory: OwnedDescriptor?
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
    private(set) var bytesWritten: Int64 = 0

    /// `top` stays owned by the caller.
    init(top: Int32) {
        self.top = top
        applyOwners = geteuid() == 0
    }

    deinit { buffer.deallocate() }

    private mutating func forgetParent() {
        cachedPath = nil
        cachedDirectory = nil
    }

    /// The components of an entry path, or why it is refused.
    static func components(_ path: [UInt8], what: String) throws(ServiceError) -> [[UInt8]] {
        let shown = String(decoding: path, as: UTF8.self)
        if path.first == UInt8(ascii: "/") {
            throw ServiceError(.badRequest, "\(what) \(shown): absolute paths are refused")
        }
        var parts: [[UInt8]] = []
        for part in path.split(separator: UInt8(ascii: "/")) where part.count != 1 || part.first != UInt8(ascii: ".") {
            if part.count == 2 && part.allSatisfy({ $0 == UInt8(ascii: ".") }) {
                throw ServiceError(.badRequest, "\(what) \(shown): paths with .. are refused")
            }
            parts.append(Array(part))
        }
        return parts
    }

    /// The directory that holds `parts.last`, opened; created (0755) where missing.
    private mutating func parent(of parts: [[UInt8]], entry: String) throws(ServiceError) -> Int32 {
        let wanted = Array(parts.dropLast())
        if cachedPath == wanted, let fd = cachedDirectory?.rawValue { return fd }
        forgetParent()
        let top = csys_dup_cloexec(self.top)
        guard top >= 0 else { throw .io("entry \(entry)", .current) }
        var directory = OwnedDescriptor(top)
        for part in wanted {
            let fd = directory.rawValue
            var next = FileTree.withCPath(part) { csys_openat(fd, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
            if next < 0 && Errno.current == .noEntry {
                _ = FileTree.withCPath(part) { mkdirat(fd, $0, 0o755) }
                next = FileTree.withCPath(part) { csys_openat(fd, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
            }
            guard next >= 0 else {
                let error = Errno.current
                let name = String(decoding: part, as: UTF8.self)
                if error == .tooManySymlinks || error == .notDirectory {
                    throw ServiceError(.badRequest,
                        "entry \(entry): goes through \(name), which is a symlink or not a directory (refused: it could lead out of the root)")
                }
                throw .io("entry \(entry): \(name)", error)
            }
            directory = OwnedDescriptor(next)
        }
        let fd = directory.rawValue
        cachedPath = wanted
        cachedDirectory = .some(directory)
        return fd
    }

    /// Creates one entry; a regular file's data comes from `data` (TarReader.readData).
    mutating func create(_ entry: TarEntry, data: (UnsafeMutableRawBufferPointer) throws(ServiceError) -> Int) throws(ServiceError) {
        let shown = String(decoding: entry.path, as: UTF8.self)
        let parts = try RootfsWriter.components(entry.path, what: "entry")
        guard let name = parts.last else { return }  // "./": the root itself
        if entry.path.contains(0) || entry.linkTarget.contains(0) { throw ServiceError(.badRequest, "entry \(shown): NUL in a name") }
        let dir = try parent(of: parts, entry: shown)
        try makeRoom(dir, name, forDirectory: entry.kind == .directory, shown)
        let permissions = mode_t(entry.mode & 0o7777)
        switch entry.kind {
        case .directory:
            if FileTree.withCPath(name, { mkdirat(dir, $0, 0o700) }) != 0 && Errno.current != .exists {
                throw .io("entry \(shown)", .current)
            }
            try applyMetadata(dir, name, entry, permissions, shown)
            // A later entry may replace a directory's parent chain: start afresh.
            forgetParent()
        case .regular:
            let fd = FileTree.withCPath(name) { csys_openat_create(dir, $0, 0o600) }
            guard fd >= 0 else { throw .io("entry \(shown)", .current) }
            defer { FileDescriptor(fd).close() }
            while true {
                let got = try data(buffer)
                if got == 0 { break }
                try writeAll(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<got]), shown)
            }
            if applyOwners, fchown(fd, entry.uid, entry.gid) != 0 { throw .io("entry \(shown): chown", .current) }
            if fchmod(fd, permissions) != 0 { throw .io("entry \(shown): chmod", .current) }
            var times = [timespec(tv_sec: time_t(entry.mtime), tv_nsec: 0), timespec(tv_sec: time_t(entry.mtime), tv_nsec: 0)]
            _ = futimens(fd, &times)
        case .symbolicLink:
            guard !entry.linkTarget.isEmpty else { throw ServiceError(.badRequest, "entry \(shown): empty symlink target") }
            let made = FileTree.withCPath(entry.linkTarget) { target in FileTree.withCPath(name) { symlinkat(target, dir, $0) } }
            guard made == 0 else { throw .io("entry \(shown)", .current) }
            if applyOwners, FileTree.withCPath(name, { fchownat(dir, $0, entry.uid, entry.gid, CSYS_AT_SYMLINK_NOFOLLOW) }) != 0 {
                throw .io("entry \(shown): chown", .current)
            }
            forgetParent()
        case .hardLink:
            let targetParts = try RootfsWriter.components(entry.linkTarget, what: "hard link target of \(shown):")
            guard let targetName = targetParts.last else { throw ServiceError(.badRequest, "entry \(shown): empty link target") }
            // The target's directory, opened the same careful way (the cache then holds it).
            let entryDir = csys_dup_cloexec(dir)
            defer { FileDescriptor(entryDir).close() }
            let targetDir = try parent(of: targetParts, entry: shown)
            let linked = FileTree.withCPath(targetName) { from in FileTree.withCPath(name) { linkat(targetDir, from, entryDir, $0, 0) } }
            guard linked == 0 else { throw .io("entry \(shown): link to \(String(decoding: entry.linkTarget, as: UTF8.self))", .current) }
        case .characterDevice, .blockDevice, .fifo:
            let type: mode_t = entry.kind == .fifo ? CSYS_S_IFIFO : entry.kind == .blockDevice ? CSYS_S_IFBLK : CSYS_S_IFCHR
            let device = entry.kind == .fifo ? 0 : csys_makedev(entry.deviceMajor, entry.deviceMinor)
            guard FileTree.withCPath(name, { mknodat(dir, $0, type | permissions, device) }) == 0 else {
                throw .io("entry \(shown)", .current)
            }
            try applyMetadata(dir, name, entry, permissions, shown)
        }
    }

    /// Removes what an earlier entry of the same name left, unless both are directories.
    private func makeRoom(_ dir: Int32, _ name: [UInt8], forDirectory: Bool, _ shown: String) throws(ServiceError) {
        var status = stat()
        guard FileTree.withCPath(name, { fstatat(dir, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else { return }
        if status.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR {
            if forDirectory { return }
            throw ServiceError(.badRequest, "entry \(shown): would replace a directory")
        }
        if FileTree.withCPath(name, { unlinkat(dir, $0, 0) }) != 0 { throw .io("entry \(shown)", .current) }
    }

    private func applyMetadata(_ dir: Int32, _ name: [UInt8], _ entry: TarEntry, _ permissions: mode_t,
                               _ shown: String) throws(ServiceError) {
        // chown first: it clears the set-id bits that chmod then sets.
        if applyOwners, FileTree.withCPath(name, { fchownat(dir, $0, entry.uid, entry.gid, CSYS_AT_SYMLINK_NOFOLLOW) }) != 0 {
            throw .io("entry \(shown): chown", .current)
        }
        if FileTree.withCPath(name, { fchmodat(dir, $0, permissions, 0) }) != 0 { throw .io("entry \(shown): chmod", .current) }
    }

    private mutating func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ shown: String) throws(ServiceError) {
        var done = 0
        do throws(Errno) {
            try FileDescriptor(fd).writeAll(bytes, written: &done)
        } catch {
            throw .io("entry \(shown)", error)
        }
        bytesWritten += Int64(bytes.count)
    }
}
