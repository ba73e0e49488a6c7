import CSys
import DbgWire

/// The distro rootfs on disk (`--distro-root`): whether it is installed, what it uses,
/// and the temporary directories beside it. An install is unpacked into
/// `.NAME.partial-*` and renamed into place when complete; a removal first renames the
/// root to `.NAME.removing-*`. Either kind left over by an agent that died is removed
/// before the next install.
struct DistroRoot {
    let path: [UInt8]
    let parent: [UInt8]
    let name: [UInt8]

    /// `path` is absolute and not "/" (the option parser makes sure).
    init(_ path: String) {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }
        self.path = bytes
        let slash = bytes.lastIndex(of: UInt8(ascii: "/")) ?? 0
        parent = slash == 0 ? [UInt8(ascii: "/")] : Array(bytes[..<slash])
        name = Array(bytes[(slash + 1)...])
    }

    var description: String { String(decoding: path, as: UTF8.self) }

    /// Installed means: the rootfs has a shell at /bin/sh (usually a symlink to busybox).
    var isInstalled: Bool { exists(path + Array("/bin/sh".utf8)) }

    var exists: Bool { exists(path) }

    private func exists(_ path: [UInt8]) -> Bool {
        var status = stat()
        return FileTree.withCPath(path) { lstat($0, &status) } == 0
    }

    /// The host name inside: the first line of the rootfs's /etc/hostname, or "distro".
    var hostname: [UInt8] {
        let fd = FileTree.withCPath(path + Array("/etc/hostname".utf8)) { csys_open($0, CSYS_O_RDONLY | CSYS_O_NOFOLLOW) }
        guard fd >= 0 else { return Array("distro".utf8) }
        defer { FileDescriptor(fd).close() }
        var buffer = [UInt8](repeating: 0, count: 64)
        let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        let line = buffer.prefix(max(got, 0)).prefix { $0 != UInt8(ascii: "\n") && $0 != 0 }
        return line.isEmpty ? Array("distro".utf8) : Array(line)
    }

    func temporary(_ kind: String, serial: Int) -> [UInt8] {
        parent + [UInt8(ascii: "/"), UInt8(ascii: ".")] + name + Array(".\(kind)-\(getpid())-\(serial)".utf8)
    }

    /// Deletes what an interrupted install or removal left beside the root.
    func removeLeftovers() throws(ServiceError) {
        let fd = FileTree.withCPath(parent) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY) }
        guard fd >= 0 else { return }  // no parent, no leftovers
        defer { FileDescriptor(fd).close() }
        var leftovers: [[UInt8]] = []
        let prefixes = ["partial-", "removing-"].map { [UInt8(ascii: ".")] + name + [UInt8(ascii: ".")] + Array($0.utf8) }
        try? FileTree.forEachEntry(fd) { entry, _ in
            if prefixes.contains(where: { entry.starts(with: $0) }) { leftovers.append(entry) }
            return true
        }
        for leftover in leftovers {
            let full = parent + [UInt8(ascii: "/")] + leftover
            do throws(Errno) {
                try FileTree.remove(full, recursive: true, oneFileSystem: true)
            } catch {
                throw .io("cannot remove the leftover \(String(decoding: full, as: UTF8.self))", error)
            }
        }
    }

    /// Bytes the tree under `path` occupies (allocated blocks), without following
    /// symlinks, without entering other mounts, counting hard-linked files once.
    static func diskUsage(_ path: [UInt8]) throws(Errno) -> Int64 {
        var top = stat()
        guard FileTree.withCPath(path, { lstat($0, &top) }) == 0 else { throw .current }
        var usage = DiskUsage(device: top.st_dev)
        usage.count(top)
        guard top.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR else { return usage.bytes }
        let fd = FileTree.withCPath(path) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
        guard fd >= 0 else { throw .current }
        defer { FileDescriptor(fd).close() }
        try usage.walk(fd, depth: 0)
        return usage.bytes
    }

    /// Mount points at or under the root in this namespace (from /proc/self/mountinfo),
    /// deepest first.
    func mountPoints() -> [[UInt8]] {
        var points: [[UInt8]] = []
        let inside = path + [UInt8(ascii: "/")]
        try? TextFile.forEachLine("/proc/self/mountinfo") { line in
            // id parent major:minor root mount-point options ...
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count > 4 else { return true }
            let point = MountInfo.unescape(Array(fields[4]))
            if point == path || point.starts(with: inside) { points.append(point) }
            return true
        }
        return points.sorted { $0.count > $1.count }
    }

    /// Detaches every mount at or under the root (left by someone outside the agent: the
    /// agent's own mounts live in namespaces that end with their process).
    func unmountLeftovers() throws(ServiceError) {
        for point in mountPoints() {
            if FileTree.withCPath(point, { csys_unmount_detached($0) }) != 0 {
                throw .io("cannot unmount \(String(decoding: point, as: UTF8.self))", .current)
            }
        }
        if let left = mountPoints().first {
            throw ServiceError(.busy, "\(String(decoding: left, as: UTF8.self)) is still mounted")
        }
    }
}

/// The running total of DistroRoot.diskUsage.
private struct DiskUsage {
    let device: dev_t
    var bytes: Int64 = 0
    /// Inodes with several links already counted.
    var linked = Set<UInt64>()

    init(device: dev_t) { self.device = device }

    mutating func count(_ status: stat) {
        if status.st_nlink > 1, status.st_mode & CSYS_S_IFMT != CSYS_S_IFDIR {
            guard linked.insert(UInt64(status.st_ino)).inserted else { return }
        }
        bytes += Int64(status.st_blocks) * 512
    }

    mutating func walk(_ fd: Int32, depth: Int) throws(Errno) {
        guard depth < 256 else { throw Errno(CSYS_ELOOP) }
        try FileTree.forEachEntry(fd) { name, _ throws(Errno) in
            var status = stat()
            guard FileTree.withCPath(name, { fstatat(fd, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) }) == 0 else {
                return true  // gone meanwhile
            }
            guard status.st_dev == device else { return true }  // another mount
            count(status)
            guard status.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR else { return true }
            let child = FileTree.withCPath(name) { csys_openat(fd, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY_NOFOLLOW) }
            guard child >= 0 else { return true }
            try FileDescriptor(child).closeAfter { () throws(Errno) in try walk(child, depth: depth + 1) }
            return true
        }
    }
}
