import DbgClient
import DbgPlatform
import Glibc

/// The client's key for key login over TLS: `client.key` in dbg's configuration
/// directory, the 32-byte P-256 secret, mode 0600 (dbg keygen makes it). Boards that list
/// its fingerprint in a user's authorized_keys log that user in without a password.
enum ClientKeyFile {
    static var path: String { Environment.nonEmpty("DBG_KEY") ?? Environment.configDirectory + "/client.key" }

    /// The key; nil when there is none. A key others can read is refused, as ssh does.
    static func load(_ path: String = ClientKeyFile.path) throws(LocalFailure) -> TLSKey? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw LocalFailure("cannot read the client key " + path + ": " + describeErrno())
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_mode & 0o077 == 0 else {
            throw LocalFailure("the client key " + path + " must be a file only you can read (chmod 600 " + path + ")")
        }
        guard let bytes = readToEnd(fd), let key = TLSKey(secret: bytes, name: "dbg") else {
            throw LocalFailure(path + " is not a dbg client key (32 bytes; dbg keygen makes one)")
        }
        return key
    }

    /// A new key at `path` (its directory made, 0700); refuses to replace one.
    static func create(_ path: String = ClientKeyFile.path) throws(LocalFailure) -> TLSKey {
        try LocalPath(path).makePrivateParent()
        guard let secret = TLSKey.makeSecret(), let key = TLSKey(secret: secret, name: "dbg") else {
            throw LocalFailure("cannot make a key: no randomness")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            if errno == EEXIST { throw LocalFailure(path + " already exists (remove it first to make a new key)") }
            throw LocalFailure("cannot create " + path + ": " + describeErrno())
        }
        defer { close(fd) }
        guard secret.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == secret.count, fsync(fd) == 0 else {
            let reason = describeErrno()
            unlink(path)
            throw LocalFailure("cannot write " + path + ": " + reason)
        }
        return key
    }
}
