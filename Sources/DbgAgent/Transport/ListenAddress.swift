/// Where the agent accepts connections: `--listen HOST:PORT` or `--unix PATH`.
enum ListenAddress: Equatable, Sendable {
    /// Numeric IPv4 (`127.0.0.1:5037`) or bracketed IPv6 (`[::1]:5037`); port 0 picks a free one.
    case tcp(host: String, port: UInt16, ipv6: Bool)
    case unix(path: String)

    static let defaultPort: UInt16 = 5037
    /// `[::]:5037`: every IPv6 and (dual-stack) IPv4 address.
    static let defaultTCP = ListenAddress.tcp(host: "::", port: defaultPort, ipv6: true)

    /// Parses the argument of `--listen`; the error says what is wrong with it.
    static func parseTCP(_ text: String) -> Result<ListenAddress, ConfigError> {
        let invalid = ConfigError("--listen '\(text)': expected IPv4:PORT or [IPv6]:PORT, e.g. 127.0.0.1:5037 or [::]:5037")
        let bytes = Array(text.utf8)
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")) else { return .failure(invalid) }
        var host = Array(bytes[..<colon])
        let ipv6 = host.first == UInt8(ascii: "[")
        if ipv6 {
            guard host.count >= 2, host.last == UInt8(ascii: "]") else { return .failure(invalid) }
            host = Array(host.dropFirst().dropLast())
        } else if host.contains(UInt8(ascii: ":")) {
            return .failure(ConfigError("--listen '\(text)': put an IPv6 address in brackets, e.g. [::1]:5037"))
        }
        guard let port = parsePort(bytes[(colon + 1)...]) else {
            return .failure(ConfigError("--listen '\(text)': the port must be a number from 0 to 65535"))
        }
        let hostText = String(decoding: host, as: UTF8.self)
        let resolved = ipv6 ? SocketAddress.ipv6(hostText, port: port) : SocketAddress.ipv4(hostText, port: port)
        guard resolved != nil else {
            return .failure(ConfigError("--listen '\(text)': '\(hostText)' is not a numeric IPv\(ipv6 ? 6 : 4) address"))
        }
        return .success(.tcp(host: hostText, port: port, ipv6: ipv6))
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

private func parsePort(_ digits: ArraySlice<UInt8>) -> UInt16? {
    guard !digits.isEmpty, digits.count <= 5 else { return nil }
    var value: UInt32 = 0
    for digit in digits {
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + UInt32(digit - UInt8(ascii: "0"))
    }
    return value <= 65535 ? UInt16(value) : nil
}
