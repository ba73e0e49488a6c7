import CSys

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
    static func run<R>(as account: UserAccount?, _ body: () -> R) -> Result<R, Errno> {
        guard let account else { return .success(body()) }
        let saved = ownGroups
        let agentUID = geteuid()
        let agentGID = getegid()
        let switched = account.groups.withUnsafeBufferPointer {
            csys_fs_identity(account.uid, account.gid, $0.baseAddress, Int32($0.count))
        }
        guard switched == 0 else {
            let error = Errno.current
            restore(agentUID, agentGID, saved)
            return .failure(error)
        }
        let result = body()
        restore(agentUID, agentGID, saved)
        return .success(result)
    }

    private static func restore(_ uid: UInt32, _ gid: UInt32, _ groups: [UInt32]) {
        _ = groups.withUnsafeBufferPointer { csys_fs_identity(uid, gid, $0.baseAddress, Int32($0.count)) }
    }

    /// A path as given (absolute) or under the home directory (relative).
    static func resolve(_ path: [UInt8], home: String) -> [UInt8] {
        path.first == UInt8(ascii: "/") ? path : Array(home.utf8) + [UInt8(ascii: "/")] + path
    }

    /// open(2) as the user; creating with exactly `mode` (not masked by the umask).
    static func open(_ path: [UInt8], writable: Bool, mode: UInt32, as account: UserAccount?) -> Result<FileDescriptor, Errno> {
        let outcome = run(as: account) { () -> Result<FileDescriptor, Errno> in
            let cPath = path + [0]
            return cPath.withUnsafeBufferPointer { buffer -> Result<FileDescriptor, Errno> in
                let name = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                let base = (writable ? CSYS_O_WRONLY : CSYS_O_RDONLY) | CSYS_O_CLOEXEC | CSYS_O_NOCTTY
                if writable {
                    let created = csys_open(name, base | CSYS_O_CREAT_EXCL)
                    if created >= 0 {
                        _ = fchmod(created, mode_t(mode & 0o7777))
                        return .success(FileDescriptor(created))
                    }
                    if Errno.current.code != CSYS_EEXIST { return .failure(.current) }
                }
                let opened = csys_open(name, base)
                return opened >= 0 ? .success(FileDescriptor(opened)) : .failure(.current)
            }
        }
        switch outcome {
        case .success(let inner): return inner
        case .failure(let error): return .failure(error)
        }
    }
}
