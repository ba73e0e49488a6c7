import CSys
import DbgWire

/// File system calls made with a user's permissions, never root's on the user's behalf:
/// the calling thread's fsuid, fsgid and groups become the user's for the call and are
/// then restored (they are per thread, so nothing else in the agent is affected).
enum UserFiles {
    /// The agent's own groups, read once before any switch.
    nonisolated(unsafe) private static var ownGroups: [UInt32] = {
        var groups = [UInt32](repeating: 0, count: 256)
        let count = csys_own_groups(&groups, Int32(groups.count))
        return Array(groups.prefix(Int(max(count, 0))))
    }()

    /// Runs `body` as `account` (nil: as the agent itself, which then is that user).
    static func run<R>(as account: UserAccount?, _ body: () throws(Errno) -> R) throws(Errno) -> R {
        guard let account else { return try body() }
        let saved = ownGroups
        let agentUID = geteuid()
        let agentGID = getegid()
        let switched = account.groups.withUnsafeBufferPointer {
            csys_fs_identity(account.uid, account.gid, $0.baseAddress, Int32($0.count))
        }
        defer { restore(agentUID, agentGID, saved) }
        guard switched == 0 else { throw .current }
        return try body()
    }

    private static func restore(_ uid: UInt32, _ gid: UInt32, _ groups: [UInt32]) {
        _ = groups.withUnsafeBufferPointer { csys_fs_identity(uid, gid, $0.baseAddress, Int32($0.count)) }
    }

    /// A path as given (absolute) or under the home directory (relative).
    static func resolve(_ path: [UInt8], home: String) -> [UInt8] {
        path.first == UInt8(ascii: "/") ? path : Array(home.utf8) + [UInt8(ascii: "/")] + path
    }

    /// What each file operation may open. A FIFO is never one: its open or read would
    /// wait for a process at the other end. Devices are opened non-blocking.
    enum Purpose {
        case read, write, hash

        func allows(_ type: Dbg.FileType) -> Bool {
            switch type {
            case .regular, .blockDevice: return true
            case .characterDevice: return self != .hash  // /dev/zero would never end
            case .directory: return true  // each operation has its own answer for one
            case .fifo, .socket, .symlink, .unknown: return false
            }
        }
    }

    /// open(2) as the user; creating with exactly `mode` (not masked by the umask).
    static func open(_ path: [UInt8], for purpose: Purpose, mode: UInt32, as account: UserAccount?) throws(Errno) -> FileDescriptor {
        try run(as: account) { () throws(Errno) in try openAsCurrentUser(path, for: purpose, mode: mode) }
    }

    /// The same, with the identity already switched (a worker's job). Never blocks: the
    /// path is walked by PathWalk, and the open is non-blocking.
    static func openAsCurrentUser(_ path: [UInt8], for purpose: Purpose, mode: UInt32) throws(Errno) -> FileDescriptor {
        try PathWalk.at(path, followLast: true) { directory, name throws(Errno) in
            try FileTree.withCPath(name) { cName throws(Errno) -> FileDescriptor in
                var status = stat()
                let exists = fstatat(directory, cName, &status, CSYS_AT_SYMLINK_NOFOLLOW) == 0
                if exists, !purpose.allows(FileTree.type(status.st_mode)) { throw .refusedType(FileTree.type(status.st_mode)) }
                let flags = (purpose == .write ? CSYS_O_WRONLY : CSYS_O_RDONLY) | CSYS_O_NOCTTY | CSYS_O_NONBLOCK | CSYS_O_NOFOLLOW
                if purpose == .write && !exists {
                    let created = csys_openat(directory, cName, flags | CSYS_O_CREAT_EXCL)
                    if created >= 0 {
                        _ = fchmod(created, mode_t(mode & 0o7777))
                        return FileDescriptor(created)
                    }
                    if Errno.current != .exists { throw .current }
                }
                let fd = csys_openat(directory, cName, flags)
                guard fd >= 0 else { throw .current }
                // It may have been replaced between the two looks.
                guard fstat(fd, &status) == 0 else {
                    let error = Errno.current
                    FileDescriptor(fd).close()
                    throw error
                }
                guard purpose.allows(FileTree.type(status.st_mode)) else {
                    FileDescriptor(fd).close()
                    throw .refusedType(FileTree.type(status.st_mode))
                }
                return FileDescriptor(fd)
            }
        }
    }
}
