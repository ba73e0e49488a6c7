import CSys
import DbgWire

/// File system operations for the extension ops, on byte paths, called with the user's
/// identity already in place (UserFiles.run).
enum FileTree {
    /// lstat: a symlink is described, not followed.
    static func info(_ path: [UInt8]) throws(Errno) -> Dbg.FileInfo {
        try PathWalk.at(path, followLast: false) { directory, name throws(Errno) in
            var status = stat()
            guard withCPath(name, { fstatat(directory, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else { throw .current }
            return info(status)
        }
    }

    static func info(_ status: stat) -> Dbg.FileInfo {
        Dbg.FileInfo(type: type(status.st_mode).rawValue, mode: UInt32(status.st_mode & 0o7777), uid: status.st_uid,
                     gid: status.st_gid, size: UInt64(max(status.st_size, 0)), mtime: Int64(status.st_mtim.tv_sec))
    }

    static func type(_ mode: mode_t) -> Dbg.FileType {
        switch mode & CSYS_S_IFMT {
        case CSYS_S_IFREG: return .regular
        case CSYS_S_IFDIR: return .directory
        case CSYS_S_IFLNK: return .symlink
        case CSYS_S_IFCHR: return .characterDevice
        case CSYS_S_IFBLK: return .blockDevice
        case CSYS_S_IFIFO: return .fifo
        case CSYS_S_IFSOCK: return .socket
        default: return .unknown
        }
    }

    /// The entries after `cookie` (0: from the start) that fit in `byteLimit` bytes of
    /// encoded page; the page's cookie continues after its last entry.
    static func list(_ path: [UInt8], cookie: UInt64, byteLimit: Int) throws(Errno) -> Dbg.DirPage {
        try PathWalk.at(path, followLast: true) { directory, name throws(Errno) in
            let fd = withCPath(name) { csys_openat(directory, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
            guard fd >= 0 else { throw .current }
            return try FileDescriptor(fd).closeAfter { () throws(Errno) in try list(fd, cookie: cookie, byteLimit: byteLimit) }
        }
    }

    private static func list(_ fd: Int32, cookie: UInt64, byteLimit: Int) throws(Errno) -> Dbg.DirPage {
        if cookie != 0, lseek(fd, off_t(Int64(bitPattern: cookie)), CSYS_SEEK_SET) < 0 { throw .current }
        var entries: [Dbg.DirEntry] = []
        var size = 4 + 8 + 1
        var next = cookie
        var full = false
        try forEachEntry(fd) { name, offset in
            let entrySize = 4 + name.count + 4 + 4 + 8 + 8
            guard size + entrySize <= byteLimit || entries.isEmpty else {
                full = true
                return false
            }
            var status = stat()
            let known = withCPath(name) { fstatat(fd, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) } == 0
            let detail = known ? info(status) : Dbg.FileInfo(type: 0, mode: 0, uid: 0, gid: 0, size: 0, mtime: 0)
            entries.append(Dbg.DirEntry(name: WireBytes(name), type: detail.type, mode: detail.mode, size: detail.size,
                                        mtime: detail.mtime))
            size += entrySize
            next = offset
            return true
        }
        return Dbg.DirPage(entries: entries, nextCookie: next, done: !full)
    }

    /// mkdir with exactly `mode`; `parents`: also the missing parents (0755), and an
    /// existing directory is fine (mkdir -p).
    static func makeDirectory(_ path: [UInt8], mode: UInt32, parents: Bool) throws(Errno) {
        try PathWalk.at(path, followLast: false, makingParents: parents) { directory, name throws(Errno) in
            try withCPath(name) { cName throws(Errno) in
                guard mkdirat(directory, cName, 0o700) == 0 else {
                    let error = Errno.current
                    var status = stat()
                    if parents, error == .exists, fstatat(directory, cName, &status, 0) == 0,
                       status.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR { return }
                    throw error
                }
                if fchmodat(directory, cName, mode_t(mode), 0) != 0 { throw .current }
            }
        }
    }

    /// renameat2; without `replace`, an existing target is EEXIST.
    static func rename(_ from: [UInt8], _ to: [UInt8], replace: Bool) throws(Errno) {
        try PathWalk.at(from, followLast: false) { fromDirectory, fromName throws(Errno) in
            try PathWalk.at(to, followLast: false) { toDirectory, toName throws(Errno) in
                let renamed = withCPath(fromName) { source in
                    withCPath(toName) { target in csys_renameat(fromDirectory, source, toDirectory, target, replace ? 1 : 0) }
                }
                if renamed != 0 { throw .current }
            }
        }
    }

    /// fsync: the file's bytes are on the storage, not only in the page cache.
    static func sync(_ path: [UInt8]) throws(Errno) { try syncOpened(path, CSYS_O_RDONLY | CSYS_O_NONBLOCK) }

    /// fsync of the directory holding `path`, which makes a new name in it durable.
    static func syncDirectory(of path: [UInt8]) throws(Errno) {
        guard let slash = path.lastIndex(of: UInt8(ascii: "/")) else { return }
        try syncOpened(slash == 0 ? [UInt8(ascii: "/")] : Array(path[..<slash]), CSYS_O_RDONLY | CSYS_O_DIRECTORY)
    }

    private static func syncOpened(_ path: [UInt8], _ flags: Int32) throws(Errno) {
        try PathWalk.at(path, followLast: true) { directory, name throws(Errno) in
            let fd = withCPath(name) { csys_openat(directory, $0, flags | CSYS_O_NOFOLLOW) }
            guard fd >= 0 else { throw .current }
            defer { FileDescriptor(fd).close() }
            if fsync(fd) != 0 { throw .current }
        }
    }

    /// unlink, or rmdir for a directory; `recursive` removes a directory's contents too,
    /// never following a symlink (a symlink is removed, whatever it points to).
    /// `oneFileSystem`: a directory on another file system than `path` is not entered
    /// (EXDEV), as with `rm --one-file-system`.
    static func remove(_ path: [UInt8], recursive: Bool, oneFileSystem: Bool = false) throws(Errno) {
        try PathWalk.at(path, followLast: false) { directory, name throws(Errno) in
            try withCPath(name) { cName throws(Errno) in
                var status = stat()
                guard fstatat(directory, cName, &status, CSYS_AT_SYMLINK_NOFOLLOW) == 0 else { throw .current }
                guard status.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR else {
                    if unlinkat(directory, cName, 0) != 0 { throw .current }
                    return
                }
                if recursive {
                    let fd = csys_openat(directory, cName, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW)
                    guard fd >= 0 else { throw .current }
                    defer { FileDescriptor(fd).close() }
                    try emptyDirectory(fd, device: oneFileSystem ? status.st_dev : nil, depth: 0)
                }
                if unlinkat(directory, cName, CSYS_AT_REMOVEDIR) != 0 { throw .current }
            }
        }
    }

    private static func emptyDirectory(_ fd: Int32, device: dev_t?, depth: Int) throws(Errno) {
        guard depth < 256 else { throw Errno(CSYS_ELOOP) }
        try forEachEntry(fd) { name, _ throws(Errno) in
            var status = stat()
            guard withCPath(name, { fstatat(fd, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else { throw .current }
            if status.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR {
                if let device, status.st_dev != device { throw Errno(CSYS_EXDEV) }
                let child = withCPath(name) { csys_openat(fd, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
                guard child >= 0 else { throw .current }
                try FileDescriptor(child).closeAfter { () throws(Errno) in
                    try emptyDirectory(child, device: device, depth: depth + 1)
                }
                if withCPath(name, { unlinkat(fd, $0, CSYS_AT_REMOVEDIR) }) != 0 { throw .current }
            } else if withCPath(name, { unlinkat(fd, $0, 0) }) != 0 {
                throw .current
            }
            return true
        }
    }

    /// Calls `body` with each entry's name (without "." and "..") and its cookie, until
    /// it returns false or the directory ends.
    static func forEachEntry(_ fd: Int32, _ body: ([UInt8], UInt64) throws(Errno) -> Bool) throws(Errno) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 << 10, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let filled = csys_getdents(fd, buffer.baseAddress, buffer.count)
            if filled < 0 { throw .current }
            if filled == 0 { return }
            var at = 0
            while at < Int(filled) {
                // struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name
                let offset = buffer.load(fromByteOffset: at + 8, as: UInt64.self)
                let length = Int(buffer.load(fromByteOffset: at + 16, as: UInt16.self))
                let nameStart = at + 19
                let name = Array(UnsafeRawBufferPointer(rebasing: buffer[nameStart..<(at + length)]).prefix(while: { $0 != 0 }))
                at += length
                if name == [0x2e] || name == [0x2e, 0x2e] { continue }
                if try !body(name, offset) { return }
            }
        }
    }

    static func withCPath<R, E: Error>(_ path: [UInt8], _ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        try (path + [0]).withUnsafeBufferPointer { (bytes) throws(E) -> R in
            try body(UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self))
        }
    }
}

extension Dbg.FileType {
    /// For messages: "a FIFO", "a socket", ...
    var article: String {
        switch self {
        case .regular: return "a regular file"
        case .directory: return "a directory"
        case .symlink: return "a symlink"
        case .characterDevice: return "a character device"
        case .blockDevice: return "a block device"
        case .fifo: return "a FIFO"
        case .socket: return "a socket"
        case .unknown: return "a file of unknown type"
        }
    }
}
