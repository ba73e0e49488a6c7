/// The HTTP + WebSocket API's flags (seed 003; docs/PROTOCOL.md, "HTTP and WebSocket
/// API"). Off unless --http gives an address.
struct HTTPConfig: Equatable {
    /// Where to serve HTTP (TCP only: browsers and CI jobs reach a board over the network).
    var addresses: [ListenAddress] = []
    /// HTTP and WebSocket connections at once.
    var connections = 16
    /// A session made by POST /api/v1/auth ends after this long unused (its cookie with it).
    var sessionIdleMs: Milliseconds = 3_600_000

    static let connectionsRange = 1...1024

    var isOn: Bool { !addresses.isEmpty }

    init() {}
}
