extension Control {
    /// The protocol revision described by docs/PROTOCOL.md.
    public static let protocolVersion: UInt32 = 1
    /// The smallest MaxFrame a client may announce in Hello (0 announces no limit).
    public static let minimumMaxFrame: UInt32 = 1024
}
