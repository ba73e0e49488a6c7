/// Where the client finds an agent: `host[:port]`, `[v6addr]:port` or `unix:/path`.
public enum AgentTarget: Equatable, Sendable {
    case tcp(host: String, port: UInt16)
    case unix(path: String)
    /// A serial line: the device and its baud rate.
    case serial(path: String, baud: Int)

    public static let defaultPort: UInt16 = 5037

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
            guard let baud, SerialBridge.speeds[baud] != nil else {
                throw .usage("'\(text)': the baud rate must be a standard one (9600, 115200, 921600, 3000000, ...)")
            }
            return .serial(path: String(path), baud: baud)
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .usage("'\(text)': missing ']' after the IPv6 address") }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.isEmpty { return .tcp(host: host, port: defaultPort) }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else {
                throw .usage("'\(text)': expected [ADDRESS]:PORT")
            }
            return .tcp(host: host, port: port)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard !text.isEmpty else { throw .usage("empty agent address") }
            return .tcp(host: text, port: defaultPort)
        case 2:
            guard !parts[0].isEmpty, let port = UInt16(parts[1]) else {
                throw .usage("'\(text)': expected HOST:PORT with a port from 0 to 65535")
            }
            return .tcp(host: String(parts[0]), port: port)
        default:
            throw .usage("'\(text)': put an IPv6 address in brackets, e.g. [::1]:5037")
        }
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        case .serial(let path, let baud): return "serial:\(path),\(baud)"
        }
    }
}
