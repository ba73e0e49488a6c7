import CSys

/// One end of a forwarded stream as `dbg forward`, `dbg reverse` and the agent's
/// StreamConnect and StreamListen write it: `tcp:HOST:PORT`, `tcp:PORT` (the loopback
/// address) or `unix:PATH`. Hosts are numeric (`127.0.0.1`, `[::1]`) or `localhost`:
/// the agent resolves no names, since a lookup could hold up its loop.
///
/// Not Equatable: comparing its String would pull Unicode normalization into the
/// firmware; compare `description`'s bytes.
public enum ForwardAddress: Sendable {
    case tcp(host: String, port: UInt16, ipv6: Bool)
    case unix(path: [UInt8])

    /// Why a text is not an address: the whole sentence, for an error answer or message.
    public struct Invalid: Error {
        public let message: String
    }

    /// Parses `text`; `anyPort` allows port 0 (a listener's "any free port").
    public static func parse(_ text: [UInt8], anyPort: Bool = false) throws(Invalid) -> ForwardAddress {
        let shown = "'" + String(decoding: text, as: UTF8.self) + "'"
        if text.starts(with: Array("unix:".utf8)) {
            let path = Array(text.dropFirst(5))
            // sun_path holds 108 bytes with the terminating NUL.
            guard !path.isEmpty, path.count < 108, !path.contains(0) else {
                throw Invalid(message: shown + ": a Unix socket's path is 1 to 107 bytes, without NUL")
            }
            return .unix(path: path)
        }
        guard text.starts(with: Array("tcp:".utf8)) else {
            throw Invalid(message: shown + ": expected tcp:PORT, tcp:HOST:PORT or unix:PATH")
        }
        let rest = Array(text.dropFirst(4))
        if let port = Endpoint.parsePort(rest[...]) { return try checked(.tcp(host: "127.0.0.1", port: port, ipv6: false), shown, anyPort) }
        let parts: Endpoint.HostPort
        do throws(Endpoint.SplitError) {
            parts = try Endpoint.split(rest)
        } catch {
            throw Invalid(message: shown + ": expected tcp:PORT or tcp:HOST:PORT, an IPv6 HOST in brackets ([::1])")
        }
        guard let port = parts.port, !parts.host.isEmpty else {
            throw Invalid(message: shown + ": expected tcp:PORT or tcp:HOST:PORT, with a port from 1 to 65535")
        }
        let host = parts.host == Array("localhost".utf8) ? "127.0.0.1" : String(decoding: parts.host, as: UTF8.self)
        guard isNumeric(host, ipv6: parts.bracketed) else {
            throw Invalid(message: shown + ": '" + host + "' is not a numeric IPv" + (parts.bracketed ? "6" : "4")
                + " address (names are not looked up on the board)")
        }
        return try checked(.tcp(host: host, port: port, ipv6: parts.bracketed), shown, anyPort)
    }

    private static func checked(_ address: ForwardAddress, _ shown: String, _ anyPort: Bool) throws(Invalid) -> ForwardAddress {
        if case .tcp(_, let port, _) = address, port == 0, !anyPort {
            throw Invalid(message: shown + ": port 0 is not a port to connect to")
        }
        return address
    }

    /// inet_pton's forms only: dotted quads, and IPv6 in brackets.
    private static func isNumeric(_ host: String, ipv6: Bool) -> Bool {
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { raw in
            host.withCString { inet_pton(ipv6 ? CSYS_AF_INET6 : CSYS_AF_INET, $0, raw.baseAddress) } == 1
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port, let ipv6): return ipv6 ? "tcp:[" + host + "]:" + String(port) : "tcp:" + host + ":" + String(port)
        case .unix(let path): return "unix:" + String(decoding: path, as: UTF8.self)
        }
    }

    /// A privileged TCP port (below 1024): only root may listen there.
    public var isPrivileged: Bool {
        if case .tcp(_, let port, _) = self { return port != 0 && port < 1024 }
        return false
    }
}
