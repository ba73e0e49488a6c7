/// Control service (id 0): connection-level requests that need no session.
public enum Control {
    /// The protocol revision described by docs/PROTOCOL.md.
    public static let protocolVersion: UInt32 = 1
    /// The smallest MaxFrame a client may announce in Hello (0 announces no limit).
    public static let minimumMaxFrame: UInt32 = 1024

    public enum Op: UInt16 {
        case hello = 1
        case ping = 2
    }

    public struct HelloRequest: WireCodable, Equatable {
        public var version: UInt32
        /// The largest payload the client accepts; 0 means no limit of its own.
        public var maxFrame: UInt32
        public var client: WireBytes

        public init(version: UInt32, maxFrame: UInt32, client: WireBytes) {
            self.version = version
            self.maxFrame = maxFrame
            self.client = client
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(version: try r.read("Version"), maxFrame: try r.read("MaxFrame"), client: try r.read("Client"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(version)
            try w.write(maxFrame)
            try w.write(client)
        }
    }

    public struct HelloResponse: WireCodable, Equatable {
        public var version: UInt32
        public var maxFrame: UInt32
        public var agent: WireBytes
        public var services: [UInt32]
        public var features: WireBytes

        public init(version: UInt32, maxFrame: UInt32, agent: WireBytes, services: [UInt32], features: WireBytes) {
            self.version = version
            self.maxFrame = maxFrame
            self.agent = agent
            self.services = services
            self.features = features
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(version: try r.read("Version"), maxFrame: try r.read("MaxFrame"), agent: try r.read("Agent"),
                 services: try r.read("Services"), features: try r.read("Features"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(version)
            try w.write(maxFrame)
            try w.write(agent)
            try w.write(services)
            try w.write(features)
        }
    }

    /// Ping request and response: the response echoes the bytes.
    public struct Ping: WireCodable, Equatable {
        public var data: WireBytes

        public init(data: WireBytes) { self.data = data }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self { Self(data: try r.read("Data")) }
        public func encode(to w: inout WireWriter) throws(WireError) { try w.write(data) }
    }
}
