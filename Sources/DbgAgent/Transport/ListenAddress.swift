import DbgPlatform

/// Where the agent accepts connections: `--listen HOST:PORT` or `--unix PATH`.
enum ListenAddress: Equatable, Sendable {
    /// Numeric IPv4 (`127.0.0.1:5037`) or bracketed IPv6 (`[::1]:5037`); port 0 picks a free one.
    case tcp(host: String, port: UInt16, ipv6: Bool)
    case unix(path: String)

    static let defaultPort = Endpoint.defaultPort
    /// `[::]:5037`: every IPv6 and (dual-stack) IPv4 address.
    static let defaultTCP = ListenAddress.tcp(host: "::", port: defaultPort, ipv6: true)

    /// Parses the argument of `--listen`; the error says what is wrong with it.
    static func parseTCP(_ text: String, flag: String = "--listen") throws(ConfigError) -> ListenAddress {
        let invalid = ConfigError(flag + " '" + text + "': expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5037 or [::]:5037")
        let parts: Endpoint.HostPort
        do throws(Endpoint.SplitError) {
            parts = try Endpoint.split(Array(text.utf8))
        } catch {
            switch error {
            case .unbracketedIPv6: throw ConfigError(flag + " '" + text + "': put an IPv6 address in brackets, e.g. [::1]:5037")
            case .badPort: throw ConfigError(flag + " '" + text + "': the port must be a number from 0 to 65535")
            case .unclosedBracket, .textAfterBracket: throw invalid
            }
        }
        guard let port = parts.port else { throw invalid }
        let host = String(decoding: parts.host, as: UTF8.self)
        let ipv6 = parts.bracketed
        let resolved = ipv6 ? SocketAddress.ipv6(host, port: port) : SocketAddress.ipv4(host, port: port)
        guard resolved != nil else {
            throw ConfigError(flag + " '" + text + "': '" + host + "' is not a numeric IPv" + (ipv6 ? "6" : "4") + " address")
        }
        return .tcp(host: host, port: port, ipv6: ipv6)
    }

    var socketAddress: SocketAddress? {
        switch self {
        case .tcp(let host, let port, let ipv6):
            return ipv6 ? SocketAddress.ipv6(host, port: port) : SocketAddress.ipv4(host, port: port)
        case .unix(let path):
            return SocketAddress.unix(path)
        }
    }
}
