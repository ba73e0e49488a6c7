import CSys

/// Resolves a user's path one component at a time, as the user, and hands the last
/// component to an `*at` call relative to its directory.
///
/// The kernel never follows a symlink here: each is read and its text walked like the
/// rest, so every directory on the way is searched with the user's permissions. That is
/// what keeps procfs "magic links" closed: `/proc/self/fd/N`, `/proc/PID/cwd` and the
/// like are symlinks the kernel would follow straight to an open file of the agent's,
/// skipping the permissions of the directories that hold it (procfs lets a process into
/// its own entries whoever its file system identity is). Read as text they name an
/// ordinary path, checked like any other. The agent's own `/proc/PID` directories
/// (every thread's) are refused outright: nothing there is the user's business.
enum PathWalk {
    /// Symlinks followed in one resolution, as the kernel's limit.
    static let maxSymlinks = 40
    static let maxPathLength = 4096

    /// Calls `body` with the directory holding the last component of the absolute
    /// `path`, and that component's name ("." for "/"). `followLast`: a symlink as the
    /// last component is resolved too (open, list), not handed over (lstat, unlink).
    /// `makingParents`: a missing directory on the way is created (0755), as mkdir -p.
    static func at<R>(_ path: [UInt8], followLast: Bool, makingParents: Bool = false,
                      _ body: (_ directory: Int32, _ name: [UInt8]) throws(Errno) -> R) throws(Errno) -> R {
        guard path.count <= maxPathLength else { throw Errno(CSYS_ENAMETOOLONG) }
        var directory = try Walker()  // closed when this returns, whatever happened
        let name = try walk(path, in: &directory, followLast: followLast, makingParents: makingParents)
        return try body(directory.fd, name)
    }

    /// The work of `at`, not generic so that it exists once in the firmware: moves
    /// `directory` (at "/") to the one holding the last component, and returns its name.
    private static func walk(_ path: [UInt8], in directory: inout Walker, followLast: Bool,
                             makingParents: Bool) throws(Errno) -> [UInt8] {
        var pending = components(path)  // in reverse: the next one is last
        var symlinks = 0
        // A trailing slash, as for the kernel, means the last component is followed.
        let follow = followLast || path.last == UInt8(ascii: "/")
        while let name = pending.popLast() {
            var status = stat()
            let isLast = pending.isEmpty
            if isLast && name != [0x2e, 0x2e] {
                guard follow else { return name }
                let found = FileTree.withCPath(name) { fstatat(directory.fd, $0, &status, CSYS_AT_SYMLINK_NOFOLLOW) } == 0
                guard found, status.st_mode & CSYS_S_IFMT == CSYS_S_IFLNK else { return name }
            } else {
                var next = FileTree.withCPath(name) { csys_open_path(directory.fd, $0) }
                if next < 0 && makingParents && Errno.current == .noEntry {
                    next = FileTree.withCPath(name) { cName in
                        mkdirat(directory.fd, cName, 0o755) == 0 || Errno.current == .exists
                            ? csys_open_path(directory.fd, cName) : -1
                    }
                }
                guard next >= 0 else { throw .current }
                guard fstat(next, &status) == 0 else {
                    let error = Errno.current
                    FileDescriptor(next).close()
                    throw error
                }
                switch status.st_mode & CSYS_S_IFMT {
                case CSYS_S_IFDIR:
                    if let refusal = directory.refusal(entering: name) {
                        FileDescriptor(next).close()
                        throw refusal
                    }
                    directory.replace(with: next)
                    if isLast { return [0x2e] }
                    continue
                case CSYS_S_IFLNK:
                    FileDescriptor(next).close()
                default:
                    FileDescriptor(next).close()
                    throw Errno(CSYS_ENOTDIR)
                }
            }
            // A symlink: its text takes its place.
            symlinks += 1
            guard symlinks <= maxSymlinks else { throw Errno(CSYS_ELOOP) }
            let target = try readLink(directory.fd, name)
            if target.first == UInt8(ascii: "/") { try directory.restart() }
            pending.append(contentsOf: components(target))
            if pending.isEmpty { return [0x2e] }  // a link to "/"
        }
        return [0x2e]  // "/" itself
    }

    /// The non-empty components other than ".", last first (a stack).
    private static func components(_ path: [UInt8]) -> [[UInt8]] {
        path.split(separator: UInt8(ascii: "/")).filter { $0 != [0x2e] }.reversed().map { Array($0) }
    }

    private static func readLink(_ directory: Int32, _ name: [UInt8]) throws(Errno) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maxPathLength)
        let length = FileTree.withCPath(name) { cName in
            buffer.withUnsafeMutableBufferPointer { readlinkat(directory, cName, UnsafeMutableRawPointer($0.baseAddress!)
                .assumingMemoryBound(to: CChar.self), $0.count) }
        }
        guard length >= 0 else { throw .current }
        guard length < maxPathLength else { throw Errno(CSYS_ENAMETOOLONG) }
        return Array(buffer[0..<length])
    }

    /// The directory reached so far (an O_PATH descriptor), starting at "/".
    private struct Walker: ~Copyable {
        private var current: OwnedDescriptor

        init() throws(Errno) { current = try Walker.root() }

        var fd: Int32 { current.rawValue }

        /// Back to "/".
        mutating func restart() throws(Errno) { current = try Walker.root() }

        /// Moves into `next`, which it then owns.
        mutating func replace(with next: Int32) { current = OwnedDescriptor(next) }

        private static func root() throws(Errno) -> OwnedDescriptor {
            let root = csys_open_path(CSYS_AT_FDCWD, "/")
            guard root >= 0 else { throw .current }
            return OwnedDescriptor(root)
        }

        /// EACCES when `name` is the agent's own process (or one of its threads) in a
        /// procfs root.
        func refusal(entering name: [UInt8]) -> Errno? {
            guard !name.isEmpty, name.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), csys_is_procfs_root(fd) == 1,
                  let own = try? PathWalk.readLink(fd, Array("self".utf8)) else { return nil }
            // A thread of the agent is also reachable as /proc/TID: it has an entry
            // under the agent's task directory.
            let isOwn = name == own
                || FileTree.withCPath(own + Array("/task/".utf8) + name) { faccessat(fd, $0, CSYS_F_OK, 0) } == 0
            return isOwn ? Errno(CSYS_EACCES) : nil
        }
    }
}
