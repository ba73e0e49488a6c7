/// Where agents are reached, as agent (`--listen`) and client (`-H`) both write it.
public enum Endpoint {
    /// The port dbgd listens on, and dbg connects to, unless told otherwise.
    public static let defaultPort: UInt16 = 5037

    /// A host and maybe a port: `HOST`, `HOST:PORT`, `[IPV6]` or `[IPV6]:PORT`.
    public struct HostPort: Equatable {
        public var host: [UInt8]
        public var port: UInt16?
        /// The host was in brackets (an IPv6 address).
        public var bracketed: Bool

        public init(host: [UInt8], port: UInt16?, bracketed: Bool) {
            self.host = host
            self.port = port
            self.bracketed = bracketed
        }
    }

    /// Why text is not a host and port; each side words it for its own users.
    public enum SplitError: Error, Equatable {
        /// `[` without its `]`.
        case unclosedBracket
        /// After `]` comes something other than `:PORT`.
        case textAfterBracket
        /// More than one `:` outside brackets: an IPv6 address must be bracketed.
        case unbracketedIPv6
        /// The port is not a number from 0 to 65535.
        case badPort(bracketed: Bool)
    }

    /// Takes `text` apart; the host is not checked (empty, a name, an address).
    public static func split(_ text: [UInt8]) throws(SplitError) -> HostPort {
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else { throw .unclosedBracket }
            let host = Array(text[1..<close])
            let rest = text[(close + 1)...]
            if rest.isEmpty { return HostPort(host: host, port: nil, bracketed: true) }
            guard rest.first == UInt8(ascii: ":") else { throw .textAfterBracket }
            guard let port = parsePort(rest.dropFirst()) else { throw .badPort(bracketed: true) }
            return HostPort(host: host, port: port, bracketed: true)
        }
        let colons = text.indices.filter { text[$0] == UInt8(ascii: ":") }
        if colons.count > 1 { throw .unbracketedIPv6 }
        guard let colon = colons.first else { return HostPort(host: text, port: nil, bracketed: false) }
        guard let port = parsePort(text[(colon + 1)...]) else { throw .badPort(bracketed: false) }
        return HostPort(host: Array(text[..<colon]), port: port, bracketed: false)
    }

    /// One to five decimal digits, at most 65535.
    public static func parsePort(_ digits: ArraySlice<UInt8>) -> UInt16? {
        guard !digits.isEmpty, digits.count <= 5 else { return nil }
        var value: UInt32 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt32(digit - UInt8(ascii: "0"))
        }
        return value <= 65535 ? UInt16(value) : nil
    }
}
