import DbgPlatform
import Glibc

/// The host's end of forwarding: a listening socket for `dbg forward`, a connect for
/// `dbg reverse`, on `tcp:HOST:PORT` or `unix:PATH` (ForwardAddress's forms).
enum LocalSockets {
    /// A listening socket and the address it got (the port chosen for port 0).
    static func listen(_ address: ForwardAddress) throws(LocalFailure) -> (fd: Int32, bound: String) {
        var storage = sockaddr_storage()
        let length = try fill(&storage, address)
        let fd = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LocalFailure("socket: " + String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw LocalFailure("cannot listen on " + address.description + ": " + reason)
        }
        guard case .tcp(let host, _, let ipv6) = address else { return (fd, address.description) }
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        let port = withUnsafePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return (fd, ForwardAddress.tcp(host: host, port: port, ipv6: ipv6).description)
    }

    /// A connected socket; the error names the address.
    static func connect(_ address: ForwardAddress) throws(LocalFailure) -> Int32 {
        var storage = sockaddr_storage()
        let length = try fill(&storage, address)
        let fd = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LocalFailure("socket: " + String(cString: strerror(errno))) }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw LocalFailure(address.description + ": " + reason)
        }
        noDelay(fd, address)
        return fd
    }

    /// Small writes (a debugger's packets) go out at once.
    static func noDelay(_ fd: Int32, _ address: ForwardAddress) {
        guard case .tcp = address else { return }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func fill(_ storage: inout sockaddr_storage, _ address: ForwardAddress) throws(LocalFailure) -> socklen_t {
        switch address {
        case .tcp(let host, let port, let ipv6):
            if ipv6 {
                return withUnsafeMutablePointer(to: &storage) {
                    $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                        sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                        sin6.pointee.sin6_port = port.bigEndian
                        inet_pton(AF_INET6, host, &sin6.pointee.sin6_addr)
                        return socklen_t(MemoryLayout<sockaddr_in6>.size)
                    }
                }
            }
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    sin.pointee.sin_family = sa_family_t(AF_INET)
                    sin.pointee.sin_port = port.bigEndian
                    inet_pton(AF_INET, host, &sin.pointee.sin_addr)
                    return socklen_t(MemoryLayout<sockaddr_in>.size)
                }
            }
        case .unix(let path):
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sun in
                    sun.pointee.sun_family = sa_family_t(AF_UNIX)
                    withUnsafeMutableBytes(of: &sun.pointee.sun_path) { raw in
                        raw.copyBytes(from: path)
                        raw[path.count] = 0
                    }
                    return socklen_t(MemoryLayout<sockaddr_un>.size)
                }
            }
        }
    }
}
