import DbgWire

/// Everything the agent is told at start-up. Every limit here sizes a pool that is
/// allocated once; nothing grows past it while the agent runs.
public struct AgentConfig: Equatable {
    /// Where to accept connections; `[::]:5037` when neither --listen nor --unix is given.
    public var listen: [ListenAddress] = []
    public var maxConnections = 16
    /// The largest payload accepted or sent (the header's `length`).
    public var maxFrame: UInt32 = 1 << 20
    /// A connection must complete its first frame within this time.
    public var handshakeTimeoutMs: Milliseconds = 10_000
    /// A connection that sends no frame for this long is closed; 0 disables.
    public var idleTimeoutMs: Milliseconds = 0
    public var verbose = false

    public init() {}

    public static let maxConnectionsRange = 1...16384
    public static let maxFrameRange: ClosedRange<UInt32> = 4096...(64 << 20)
    /// Pending output a connection may build up before the agent stops taking its requests.
    public static let transmitBatch = 64 << 10
    /// After an error that ends a connection, how long unread input is drained so the
    /// peer gets the error frame instead of a reset.
    public static let lingerMs: Milliseconds = 2_000

    public var effectiveListen: [ListenAddress] { listen.isEmpty ? [ListenAddress.defaultTCP] : listen }

    var receiveBufferSize: Int { FrameHeader.size + Int(maxFrame) }
    var transmitBufferSize: Int { FrameHeader.size + Int(maxFrame) + AgentConfig.transmitBatch }
}
