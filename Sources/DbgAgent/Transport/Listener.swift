import CSys
import DbgWire

/// A listening socket (TCP or Unix). Accepted connections are non-blocking and close-on-exec.
struct Listener {
    let fd: FileDescriptor
    /// The bound address (with the real port when 0 was asked for).
    let address: SocketAddress
    /// Set for Unix sockets: the file to remove on shutdown.
    let unixPath: String?

    /// A Unix socket is made with `unixMode` and, when given, group `unixGroup` (the
    /// runtime socket: 0660 for its group).
    static func open(_ target: ListenAddress, unixMode: UInt32 = 0o600, unixGroup: UInt32? = nil) throws(StartupError) -> Listener {
        guard let requested = target.socketAddress else {
            if case .unix(let path) = target {
                throw StartupError("--unix '\(path)': the path is too long for a socket address (max 107 bytes)")
            }
            throw StartupError("cannot listen on an invalid address")
        }
        let fd = try socketOrThrow(requested)
        do throws(StartupError) {
            switch target {
            case .tcp(_, _, let ipv6):
                do throws(Errno) {
                    return try listenTCP(fd, requested, ipv6: ipv6)
                } catch {
                    throw StartupError("cannot listen on \(requested.description): \(error.message)")
                }
            case .unix(let path):
                try removeStaleSocket(path, requested)
                // The Unix socket is local trusted access: only the agent's user (or the
                // group given) may connect. No moment with a wider mode: bound under a
                // umask that leaves only the owner, then opened up to the group. A path
                // in a directory others may write to is the operator's choice.
                let previous = umask(0o177)
                defer { umask(previous) }
                try bindOrThrow(fd, requested)
                if let unixGroup, path.withCString({ chown($0, UInt32.max, unixGroup) }) != 0 {
                    throw StartupError("\(path): cannot give the socket to group \(unixGroup): \(Errno.current.message)")
                }
                if unixMode != 0o600, path.withCString({ chmod($0, mode_t(unixMode)) }) != 0 {
                    throw StartupError("\(path): cannot set the socket's mode: \(Errno.current.message)")
                }
            }
            if listen(fd.rawValue, 511) != 0 {
                throw StartupError("cannot listen on \(requested.description): \(Errno.current.message)")
            }
        } catch {
            fd.close()
            throw error
        }
        var bound = SocketAddress()
        _ = bound.withMutableSockaddr { getsockname(fd.rawValue, $0, &$1) }
        if case .unix(let path) = target { return Listener(fd: fd, address: bound, unixPath: path) }
        return Listener(fd: fd, address: bound, unixPath: nil)
    }

    /// A TCP listener on the socket `fd` (which the caller closes when this fails):
    /// reusable address, dual stack for "[::]", bound to `address`. Also the forwarder's
    /// listeners (StreamListen).
    static func listenTCP(_ fd: FileDescriptor, _ address: SocketAddress, ipv6: Bool) throws(Errno) -> Listener {
        setOption(fd, CSYS_SOL_SOCKET, CSYS_SO_REUSEADDR, 1)
        // Dual stack: "[::]" also accepts IPv4 (as mapped addresses).
        if ipv6 { setOption(fd, CSYS_IPPROTO_IPV6, CSYS_IPV6_V6ONLY, 0) }
        guard address.withSockaddr({ bind(fd.rawValue, $0, $1) }) == 0, CSys.listen(fd.rawValue, 511) == 0 else {
            throw .current
        }
        var bound = SocketAddress()
        _ = bound.withMutableSockaddr { getsockname(fd.rawValue, $0, &$1) }
        return Listener(fd: fd, address: bound, unixPath: nil)
    }

    /// Accepts one pending connection; nil when none is pending.
    func accept() throws(Errno) -> (FileDescriptor, SocketAddress)? {
        var peer = SocketAddress()
        let raw = peer.withMutableSockaddr { csys_accept(fd.rawValue, $0, &$1) }
        if raw >= 0 {
            let connection = FileDescriptor(raw)
            if address.family != CSYS_AF_UNIX {
                // Small request/response frames: don't let Nagle hold them back.
                setOption(connection, CSYS_IPPROTO_TCP, CSYS_TCP_NODELAY, 1)
                setOption(connection, CSYS_SOL_SOCKET, CSYS_SO_KEEPALIVE, 1)
            }
            return (connection, peer)
        }
        let error = Errno.current
        // The peer gave up between the readiness event and accept: nothing to do.
        if error == .wouldBlock || error == .interrupted || error == .connectionAborted { return nil }
        throw error
    }

    /// Closes the socket and removes a Unix socket's file.
    func close() {
        fd.close()
        if let unixPath { _ = unixPath.withCString { unlink($0) } }
    }
}

private func socketOrThrow(_ address: SocketAddress) throws(StartupError) -> FileDescriptor {
    let raw = socket(address.family, CSYS_SOCK_STREAM | CSYS_SOCK_NONBLOCK | CSYS_SOCK_CLOEXEC, 0)
    if raw < 0 { throw StartupError("cannot create a socket for \(address.description): \(Errno.current.message)") }
    return FileDescriptor(raw)
}

private func bindOrThrow(_ fd: FileDescriptor, _ address: SocketAddress) throws(StartupError) {
    if address.withSockaddr({ bind(fd.rawValue, $0, $1) }) != 0 {
        throw StartupError("cannot listen on \(address.description): \(Errno.current.message)")
    }
}

private func setOption(_ fd: FileDescriptor, _ level: Int32, _ name: Int32, _ value: Int32) {
    var value = value
    _ = setsockopt(fd.rawValue, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
}

/// A socket file left by an agent that died is removed; one that still answers is not.
private func removeStaleSocket(_ path: String, _ address: SocketAddress) throws(StartupError) {
    var info = stat()
    guard path.withCString({ lstat($0, &info) }) == 0 else { return }
    guard info.st_mode & CSYS_S_IFMT == CSYS_S_IFSOCK else {
        throw StartupError("--unix '\(path)': the path exists and is not a socket")
    }
    let probe = socket(CSYS_AF_UNIX, CSYS_SOCK_STREAM | CSYS_SOCK_CLOEXEC, 0)
    guard probe >= 0 else { return }
    defer { FileDescriptor(probe).close() }
    if address.withSockaddr({ connect(probe, $0, $1) }) == 0 {
        throw StartupError("--unix '\(path)': another agent is already listening there")
    }
    _ = path.withCString { unlink($0) }
}
