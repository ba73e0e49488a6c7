/// The HTTP API's flags (HTTPConfig).
extension CommandLineOptions {
    static let httpUsage = """
        HTTP + WebSocket API and web console (seed 003; off unless --http is given):
              --http ADDR:PORT          serve it on a numeric IPv4 or [IPv6] address;
                                        repeatable; port 0 picks a free port
              --http-connections N      HTTP and WebSocket connections at once (default 16,
                                        1..1024)
              --http-session-timeout SEC  a session of POST /api/v1/auth ends after SEC
                                        unused (default 3600)
        """

    enum HTTPKey {
        static let address: UInt8 = 60
        static let connections: UInt8 = 61
        static let sessionTimeout: UInt8 = 62
    }

    static let httpOptions: [(StaticString, UInt8)] = [
        ("http", HTTPKey.address), ("http-connections", HTTPKey.connections), ("http-session-timeout", HTTPKey.sessionTimeout),
    ]

    /// Sets what an HTTP flag says; nil when `key` is not one of them.
    static func applyHTTP(_ key: UInt8, _ argument: String, to config: inout HTTPConfig) -> ConfigError?? {
        guard key >= HTTPKey.address && key <= HTTPKey.sessionTimeout else { return nil }
        #if DBG_NO_HTTP
        return .some(ConfigError("--http*: this dbgd was built without the HTTP API (DBG_HTTP=OFF)"))
        #else
        switch key {
        case HTTPKey.address:
            do throws(ConfigError) {
                config.addresses.append(try ListenAddress.parseTCP(argument, flag: "--http"))
            } catch {
                return .some(error)
            }
        case HTTPKey.connections:
            guard let count = parseCount(argument, in: HTTPConfig.connectionsRange) else {
                return .some(ConfigError("--http-connections '" + argument + "': expected a number from 1 to 1024"))
            }
            config.connections = count
        default:
            guard let seconds = parseSeconds(argument), seconds > 0 else {
                return .some(ConfigError("--http-session-timeout '" + argument + "': expected whole seconds (1 to 604800)"))
            }
            config.sessionIdleMs = seconds * 1000
        }
        return .some(nil)
        #endif
    }
}
