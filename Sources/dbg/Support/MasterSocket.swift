import CSys
import DbgClient
import DbgWire
import Glibc

/// Where the connection master of a user and target listens (`dbg connect`), and whether
/// it may be used: `$XDG_RUNTIME_DIR/dbg/` (else `/tmp/dbg-UID/`), a folder of this user's
/// alone (0700), holding one socket (0600) per user@target, named by a hash of it. A
/// socket or folder that is not this user's alone is refused; a socket nobody listens on
/// any more (a master that was killed) is removed.
struct MasterSocket {
    let target: AgentTarget
    let user: String
    let directory: String
    let path: String

    init(target: AgentTarget, user: String) {
        self.target = target
        self.user = user
        let base = Environment.nonEmpty("XDG_RUNTIME_DIR").map { $0 + "/dbg" } ?? "/tmp/dbg-" + String(getuid())
        directory = base
        var hasher = SHA256()
        Array((user + "@" + target.description).utf8).withUnsafeBytes { hasher.update($0) }
        path = base + "/" + Format.hex(Array(hasher.finish().prefix(8))) + ".sock"
    }

    var name: String { user + "@" + target.description }

    /// A connection through the master, or nil when there is none to use (after one line
    /// on stderr when there is one that must not be trusted).
    func connect() -> AgentConnection? {
        guard LocalPath(path).exists else { return nil }
        if let distrust = trustProblem() {
            Terminal.error("dbg: not using the connection master at " + path + ": " + distrust)
            return nil
        }
        do throws(ClientError) {
            // A master answers at once; one that does not within 2 s is not waited for.
            return try AgentConnection(master: path, for: target, timeoutSeconds: 2)
        } catch {
            if case .connect = error {
                unlink(path)  // nobody listens: the master is gone
            } else {
                Terminal.error("dbg: not using the connection master at " + path + ": " + error.message)
            }
            return nil
        }
    }

    /// The process serving the socket, if one does.
    func masterProcess() -> pid_t? {
        guard LocalPath(path).exists, trustProblem() == nil else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard connectUnix(fd) else { return nil }
        let pid = csys_peer_process(fd)
        return pid > 0 ? pid : nil
    }

    /// Why the folder or socket must not be used, if it must not.
    func trustProblem() -> String? {
        for (file, kind) in [(directory, Glibc.S_IFDIR), (path, Glibc.S_IFSOCK)] {
            var info = stat()
            guard lstat(file, &info) == 0 else { continue }
            if info.st_mode & S_IFMT != kind { return file + " is not a " + (kind == Glibc.S_IFDIR ? "folder" : "socket") }
            if info.st_uid != getuid() { return file + " belongs to uid " + String(info.st_uid) + ", not to uid " + String(getuid()) }
            if info.st_mode & 0o077 != 0 { return file + " can be reached by other users (mode " + String(info.st_mode & 0o777, radix: 8) + ")" }
        }
        return nil
    }

    /// A socket for a new master, bound beside `path` (at `pendingPath`) but not yet
    /// listening: the master listens from its own process (so that a client sees that
    /// process as its peer), and renames it to `path` once logged in, so that no client
    /// finds a master that cannot answer yet.
    func bindNew() throws(LocalFailure) -> Int32 {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw LocalFailure("cannot create " + directory + ": " + describeErrno())
        }
        if let distrust = trustProblem() { throw LocalFailure("cannot use " + directory + ": " + distrust) }
        unlink(pendingPath)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LocalFailure("socket: " + describeErrno()) }
        // Created 0600 from the start: no moment when another user could connect.
        let saved = umask(0o177)
        let bound = withAddress(pendingPath) { bind(fd, $0, $1) } == 0
        umask(saved)
        guard bound else {
            let message = describeErrno()
            close(fd)
            throw LocalFailure("cannot bind " + pendingPath + ": " + message)
        }
        return fd
    }

    var pendingPath: String { path + ".new" }

    private func connectUnix(_ fd: Int32) -> Bool { withAddress(path) { Glibc.connect(fd, $0, $1) } == 0 }

    private func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return -1 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
