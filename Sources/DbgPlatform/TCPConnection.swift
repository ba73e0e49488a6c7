import CSys

/// An outgoing TCP connection as agent (the distro HTTP client) and client (dbg) both
/// make it: each address the name resolves to in turn, each given a time limit.
public enum TCPConnection {
    public enum Failure: Error, Equatable {
        /// The name did not resolve: getaddrinfo's reason.
        case resolve(String)
        /// No address took the connection: the errno of the last attempt.
        case connect(SystemError)
    }

    /// A connected socket: non-blocking, close-on-exec. `localAddress` (numeric IPv4)
    /// is bound first when given: tests use it to appear as different peers.
    public static func connect(host: String, port: UInt16, timeoutMs: Int32,
                               localAddress: String? = nil) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = CSYS_AF_UNSPEC
        hints.ai_socktype = CSYS_SOCK_STREAM
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = host.withCString { name in String(port).withCString { getaddrinfo(name, $0, &hints, &found) } }
        guard resolved == 0 else { throw .resolve(String(cString: csys_resolve_message(resolved))) }
        defer { freeaddrinfo(found) }
        var last = SystemError(CSYS_ECONNREFUSED)
        var next = found
        while let entry = next {
            next = entry.pointee.ai_next
            do throws(SystemError) {
                return try attempt(entry.pointee, timeoutMs: timeoutMs, localAddress: localAddress)
            } catch {
                last = error
            }
        }
        throw .connect(last)
    }

    private static func attempt(_ address: addrinfo, timeoutMs: Int32, localAddress: String?) throws(SystemError) -> Int32 {
        let fd = socket(address.ai_family, CSYS_SOCK_STREAM | CSYS_SOCK_NONBLOCK | CSYS_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { throw .current }
        do throws(SystemError) {
            if let localAddress { try bind(fd, to: localAddress) }
            if CSys.connect(fd, address.ai_addr, address.ai_addrlen) == 0 { return fd }
            guard csys_errno() == CSYS_EINPROGRESS else { throw .current }
            try waitUntilConnected(fd, timeoutMs: timeoutMs)
            return fd
        } catch {
            _ = close(fd)
            throw error
        }
    }

    /// A non-blocking connect in progress: its end, within `timeoutMs`.
    private static func waitUntilConnected(_ fd: Int32, timeoutMs: Int32) throws(SystemError) {
        let deadline = csys_monotonic_ms() + UInt64(max(timeoutMs, 0))
        while true {
            let now = csys_monotonic_ms()
            guard now < deadline else { throw SystemError(CSYS_ETIMEDOUT) }
            let left = deadline - now
            let ready = csys_wait_ready(fd, 1, Int32(left))
            if ready < 0 { throw .current }
            if ready == 0 { continue }  // a signal, or the time is up (checked above)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, CSYS_SOL_SOCKET, CSYS_SO_ERROR, &error, &length) == 0 else { throw .current }
            if error != 0 { throw SystemError(error) }
            return
        }
    }

    private static func bind(_ fd: Int32, to address: String) throws(SystemError) {
        var local = sockaddr_in()
        local.sin_family = sa_family_t(CSYS_AF_INET)
        guard address.withCString({ inet_pton(CSYS_AF_INET, $0, &local.sin_addr) }) == 1 else {
            throw SystemError(CSYS_EINVAL)
        }
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { CSys.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw .current }
    }
}
