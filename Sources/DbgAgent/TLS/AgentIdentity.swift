import CSys
import CTLS
import DbgPlatform
import DbgWire

/// The board's identity for TLS: a P-256 key kept in --state-dir as `identity.key` (the
/// 32-byte secret, mode 0600, written atomically), and the certificate made from it
/// (`KeyCertificate`: the same key always gives the same certificate). Clients pin the
/// key's fingerprint.
struct AgentIdentity {
    static let fileName = "identity.key"

    let key: TLSKey

    var secret: [UInt8] { key.secret }
    var certificate: KeyCertificate { key.certificate }
    var fingerprint: String { key.fingerprint }

    init(secret: [UInt8]) throws(StartupError) {
        guard let key = TLSKey(secret: secret, name: "dbgd") else {
            throw StartupError("the board key is not a valid P-256 secret")
        }
        self.key = key
    }

    /// Where the key came from.
    enum Origin: Equatable {
        case loaded, created
        /// The state directory cannot be written (a read-only root file system): a key
        /// for this run only, with the reason.
        case ephemeral(String)
    }

    /// The key in `directory`, or a new one saved there (the directory is made, 0700).
    /// When it cannot be saved, a key for this run only (`.ephemeral`); a key file that
    /// is there but unusable stops the start-up.
    static func loadOrCreate(in directory: String) throws(StartupError) -> (identity: AgentIdentity, origin: Origin) {
        let path = directory + "/" + fileName
        if let secret = try read(path) { return (try AgentIdentity(secret: secret), .loaded) }
        guard let secret = TLSKey.makeSecret() else { throw StartupError("cannot make a board key: no randomness") }
        do throws(Errno) {
            try save(secret, to: path, in: directory)
        } catch where error == .exists {
            // Another agent made it first: theirs is the board's.
            if let saved = try read(path) { return (try AgentIdentity(secret: saved), .loaded) }
        } catch {
            return (try AgentIdentity(secret: secret), .ephemeral("cannot save it in " + directory + ": " + error.message))
        }
        return (try AgentIdentity(secret: secret), .created)
    }

    /// The secret at `path`; nil when there is no file. Anything but a regular file of
    /// 32 bytes, the agent's own and closed to others, is refused (as sshd refuses host
    /// keys others can read).
    private static func read(_ path: String) throws(StartupError) -> [UInt8]? {
        let fd = path.withCString { csys_open($0, CSYS_O_RDONLY | CSYS_O_NOFOLLOW | CSYS_O_NONBLOCK) }
        guard fd >= 0 else {
            if Errno.current == .noEntry { return nil }
            throw StartupError(path + ": " + Errno.current.message)
        }
        defer { FileDescriptor(fd).close() }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & CSYS_S_IFMT == CSYS_S_IFREG else {
            throw StartupError(path + ": not a regular file")
        }
        guard status.st_uid == geteuid(), status.st_mode & 0o077 == 0 else {
            throw StartupError(path + ": must belong to the agent's user and be closed to others (chmod 600)")
        }
        var secret = [UInt8](repeating: 0, count: Int(CTLS_P256_SECRET) + 1)
        let count = secret.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
        guard count == Int(CTLS_P256_SECRET) else {
            throw StartupError(path + ": not a board key (32 bytes); remove it to make a new one")
        }
        return Array(secret.prefix(count))
    }

    /// Written beside its name (a name of this process's own) and renamed without
    /// replacing, so a crash leaves no key or the whole key, and two agents starting at
    /// once agree on one (EEXIST for the later).
    private static func save(_ secret: [UInt8], to path: String, in directory: String) throws(Errno) {
        let partial = path + ".new." + String(getpid())
        do throws(Errno) {
            do throws(Errno) {
                try FileTree.makeDirectory(Array(directory.utf8), mode: 0o700, parents: true)
            } catch where error == .exists {}
            _ = partial.withCString { unlink($0) }
            let fd = partial.withCString { csys_openat_create(CSYS_AT_FDCWD, $0, 0o600) }
            guard fd >= 0 else { throw Errno.current }
            defer { FileDescriptor(fd).close() }
            // 32 bytes: one write(2) takes them all, or fails.
            let wrote = secret.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            guard wrote == secret.count, fsync(fd) == 0 else { throw wrote < 0 || wrote == secret.count ? Errno.current : Errno(CSYS_EIO) }
            try FileTree.rename(Array(partial.utf8), Array(path.utf8), replace: false)
            try? FileTree.syncDirectory(of: Array(path.utf8))
        } catch {
            _ = partial.withCString { unlink($0) }
            throw error
        }
    }
}
