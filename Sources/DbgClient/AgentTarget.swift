import DbgPlatform

/// Where the client finds an agent: `host[:port]`, `[v6addr]:port`, `tls://HOST[:PORT]`,
/// `unix:/path`, `serial:DEVICE[,BAUD]`, or a serial port server's `socket://` or
/// `rfc2217://HOST:PORT[,BAUD]`.
public enum AgentTarget: Equatable, Sendable {
    case tcp(host: String, port: UInt16)
    /// TCP with TLS: the board's key is checked against what the client pinned.
    case tls(host: String, port: UInt16)
    case unix(path: String)
    /// A serial line: the device and its baud rate.
    case serial(path: String, baud: Int)
    /// A serial line exported by a port server (ser2net): raw TCP (`socket://`) or telnet
    /// with RFC 2217 (`rfc2217://`, which also sets the port's baud rate).
    case networkSerial(host: String, port: UInt16, baud: Int, telnet: Bool)
    /// A board found by multicast DNS (dbgd --mdns): its instance name, serial number or
    /// host name.
    case mdns(name: String)

    public static let defaultPort = Endpoint.defaultPort

    public static func parse(_ text: String) throws(ClientError) -> AgentTarget {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw .usage("'\(text)': unix: needs a socket path") }
            return .unix(path: path)
        }
        if text.hasPrefix("mdns:") {
            let name = String(text.dropFirst(5))
            guard !name.isEmpty else { throw .usage("'\(text)': mdns: needs a board's name or serial number (dbg devices lists them)") }
            return .mdns(name: name)
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
        if text.hasPrefix("tls://") {
            guard case .tcp(let host, let port) = try? parse(String(text.dropFirst(6))) else {
                throw .usage("'\(text)': expected tls://HOST[:PORT]")
            }
            return .tls(host: host, port: port)
        }
        for (scheme, telnet) in [("socket://", false), ("rfc2217://", true)] where text.hasPrefix(scheme) {
            let spec = text.dropFirst(scheme.count)
            let parts = spec.split(separator: ",", omittingEmptySubsequences: false)
            let baud = parts.count == 2 ? Int(parts[1]) : 115_200
            guard parts.count <= 2, let address = parts.first, address.contains(":"),
                  case .tcp(let host, let port) = try parse(String(address)), port != 0 else {
                throw .usage("'\(text)': expected \(scheme)HOST:PORT[,BAUD]")
            }
            guard let baud, SerialPort.isStandard(baud: baud) else {
                throw .usage("'\(text)': the baud rate must be a standard one (9600, 115200, 921600, 3000000, ...)")
            }
            return .networkSerial(host: host, port: port, baud: baud, telnet: telnet)
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

    /// The same agent over TLS (a TCP target; others stay as they are).
    public var withTLS: AgentTarget {
        if case .tcp(let host, let port) = self { return .tls(host: host, port: port) }
        return self
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .tls(let host, let port): return "tls://" + AgentTarget.tcp(host: host, port: port).description
        case .unix(let path): return "unix:\(path)"
        case .serial(let path, let baud): return "serial:\(path),\(baud)"
        case .mdns(let name): return "mdns:\(name)"
        case .networkSerial(let host, let port, let baud, let telnet):
            return (telnet ? "rfc2217://" : "socket://") + AgentTarget.tcp(host: host, port: port).description + ",\(baud)"
        }
    }
}
