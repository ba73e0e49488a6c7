import DbgPlatform

/// Where the client finds an agent: `host[:port]`, `[v6addr]:port` or `unix:/path`.
public enum AgentTarget: Equatable, Sendable {
    case tcp(host: String, port: UInt16)
    case unix(path: String)
    /// A serial line: the device and its baud rate.
    case serial(path: String, baud: Int)

    public static let defaultPort = Endpoint.defaultPort

    public static func parse(_ text: String) throws(ClientError) -> AgentTarget {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .usage("'\(text)': unix: needs a socket path") }
            return .unix(path: path)
        }
        if text.hasPrefix("serial:") {
            let spec = text.dropFirst(7)
            let parts = spec.split(separator: ",", omittingEmptySubsequences: false)
            guard let path = parts.first, !path.isEmpty, parts.count <= 2 else {
                throw .usage("'\(text)': expected serial:DEVICE[,BAUD]")
            }
            let baud = parts.count == 2 ? Int(parts[1]) : 115_200
            guard let baud, SerialPort.isStandard(baud: baud) else {
                throw .usage("'\(text)': the baud rate must be a standard one (9600, 115200, 921600, 3000000, ...)")
            }
            return .serial(path: String(path), baud: baud)
        }
        guard !text.isEmpty else { throw .usage("empty agent address") }
        let parts: Endpoint.HostPort
        do throws(Endpoint.SplitError) {
            parts = try Endpoint.split(Array(text.utf8))
        } catch {
            switch error {
            case .unclosedBracket: throw .usage("'\(text)': missing ']' after the IPv6 address")
            case .textAfterBracket, .badPort(bracketed: true): throw .usage("'\(text)': expected [ADDRESS]:PORT")
            case .badPort(bracketed: false): throw .usage("'\(text)': expected HOST:PORT with a port from 0 to 65535")
            case .unbracketedIPv6: throw .usage("'\(text)': put an IPv6 address in brackets, e.g. [::1]:5037")
            }
        }
        if !parts.bracketed && parts.host.isEmpty {
            throw .usage("'\(text)': expected HOST:PORT with a port from 0 to 65535")
        }
        return .tcp(host: String(decoding: parts.host, as: UTF8.self), port: parts.port ?? defaultPort)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        case .serial(let path, let baud): return "serial:\(path),\(baud)"
        }
    }
}
