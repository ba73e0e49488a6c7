import CSys
import DbgWire

/// A socket address (IPv4, IPv6 or Unix) held inline, so connection slots need no heap.
struct SocketAddress {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    init() {}

    var family: Int32 { Int32(storage.ss_family) }

    static func ipv4(_ host: String, port: UInt16) -> SocketAddress? {
        var address = SocketAddress()
        let ok = address.withMutable(sockaddr_in.self) { sin in
            sin.sin_family = sa_family_t(CSYS_AF_INET)
            sin.sin_port = port.bigEndian
            return host.withCString { inet_pton(CSYS_AF_INET, $0, &sin.sin_addr) } == 1
        }
        address.length = socklen_t(MemoryLayout<sockaddr_in>.size)
        return ok ? address : nil
    }

    static func ipv6(_ host: String, port: UInt16) -> SocketAddress? {
        var address = SocketAddress()
        let ok = address.withMutable(sockaddr_in6.self) { sin6 in
            sin6.sin6_family = sa_family_t(CSYS_AF_INET6)
            sin6.sin6_port = port.bigEndian
            return host.withCString { inet_pton(CSYS_AF_INET6, $0, &sin6.sin6_addr) } == 1
        }
        address.length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        return ok ? address : nil
    }

    /// nil when the path does not fit in sun_path (with its NUL).
    static func unix(_ path: String) -> SocketAddress? { unix(bytes: Array(path.utf8)) }

    /// The same for a path as bytes, which need not be UTF-8 (a path from the wire).
    static func unix(bytes: [UInt8]) -> SocketAddress? {
        var address = SocketAddress()
        let fits = address.withMutable(sockaddr_un.self) { sun in
            sun.sun_family = sa_family_t(CSYS_AF_UNIX)
            return withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                guard bytes.count < raw.count, !bytes.contains(0) else { return false }
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
                return true
            }
        }
        address.length = socklen_t(MemoryLayout<sockaddr_un>.size)
        return fits ? address : nil
    }

    /// systemd's NOTIFY_SOCKET: a path, or "@name" for a socket in the abstract namespace
    /// (whose address is a NUL byte and the name, without a terminating NUL).
    static func notifySocket(_ value: String) -> SocketAddress? {
        guard value.utf8.first == UInt8(ascii: "@") else { return unix(value) }
        var name = Array(value.utf8)
        name[0] = 0
        var address = SocketAddress()
        let fits = address.withMutable(sockaddr_un.self) { sun in
            sun.sun_family = sa_family_t(CSYS_AF_UNIX)
            return withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                guard name.count <= raw.count else { return false }
                raw.copyBytes(from: name)
                return true
            }
        }
        address.length = socklen_t(MemoryLayout<sa_family_t>.size + name.count)
        return fits ? address : nil
    }

    /// The peer at the other end of a serial line: no socket address, only the device,
    /// shown as "serial:/dev/ttyGS0".
    static func serialLine(_ path: String) -> SocketAddress {
        var address = unix(path) ?? SocketAddress()
        address.storage.ss_family = 0
        return address
    }

    var port: UInt16 {
        switch family {
        case CSYS_AF_INET: return withAddress(sockaddr_in.self) { UInt16(bigEndian: $0.sin_port) }
        case CSYS_AF_INET6: return withAddress(sockaddr_in6.self) { UInt16(bigEndian: $0.sin6_port) }
        default: return 0
        }
    }

    /// "127.0.0.1:5037", "[::1]:5037" or "unix:/run/dbgd.sock" (a peer on a Unix socket
    /// is unnamed and shows as "unix").
    var description: String {
        switch family {
        case CSYS_AF_INET:
            return hostDescription + ":\(port)"
        case CSYS_AF_INET6:
            return "[" + hostDescription + "]:\(port)"
        case CSYS_AF_UNIX:
            let path = withAddress(sockaddr_un.self) { sun in
                var copy = sun.sun_path
                return withUnsafeBytes(of: &copy) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
            }
            return path.isEmpty ? "unix" : "unix:" + path
        case 0:
            return "serial:" + withAddress(sockaddr_un.self) { sun in
                var copy = sun.sun_path
                return withUnsafeBytes(of: &copy) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
            }
        default:
            return "unknown address family \(family)"
        }
    }

    /// The raw IP address (4 or 16 bytes); empty for other families.
    func withAddressBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch family {
        case CSYS_AF_INET:
            return withAddress(sockaddr_in.self) { sin in
                var address = sin.sin_addr
                return withUnsafeBytes(of: &address) { body($0) }
            }
        case CSYS_AF_INET6:
            return withAddress(sockaddr_in6.self) { sin6 in
                var address = sin6.sin6_addr
                return withUnsafeBytes(of: &address) { body($0) }
            }
        default:
            return body(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    /// 127.0.0.0/8 or ::1: only this machine reaches it.
    var isLoopback: Bool {
        withAddressBytes { bytes in
            switch bytes.count {
            case 4: return bytes[0] == 127
            case 16: return bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1
            default: return false
            }
        }
    }

    /// The address without the port ("192.168.7.1", "::1"), or "local" for a Unix socket.
    var hostDescription: String {
        switch family {
        case CSYS_AF_INET:
            return withAddress(sockaddr_in.self) { sin in
                var addr = sin.sin_addr
                return numericHost(CSYS_AF_INET, &addr)
            }
        case CSYS_AF_INET6:
            return withAddress(sockaddr_in6.self) { sin6 in
                var addr = sin6.sin6_addr
                return numericHost(CSYS_AF_INET6, &addr)
            }
        default:
            return "local"
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// For calls that fill in an address (accept, getsockname).
    mutating func withMutableSockaddr<R>(_ body: (UnsafeMutablePointer<sockaddr>, inout socklen_t) -> R) -> R {
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, &length) }
        }
        self.length = length
        return result
    }

    private func withAddress<T, R>(_: T.Type, _ body: (T) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: T.self, capacity: 1) { body($0.pointee) }
        }
    }

    private mutating func withMutable<T, R>(_: T.Type, _ body: (inout T) -> R) -> R {
        withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: T.self, capacity: 1) { body(&$0.pointee) }
        }
    }
}

private func numericHost(_ family: Int32, _ address: UnsafeRawPointer) -> String {
    var text = [CChar](repeating: 0, count: 64)
    guard inet_ntop(family, address, &text, socklen_t(text.count)) != nil else { return "?" }
    return String(decoding: text.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
