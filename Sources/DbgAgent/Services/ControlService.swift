import DbgWire

/// Service 0: Hello (capabilities and frame-size negotiation) and Ping (echo).
struct ControlService {
    let maxFrame: UInt32
    /// The services this agent serves, in Hello's `Services`.
    let services: [UInt32]
    /// Space-separated words, `key=value` for facts with a value (see docs/PROTOCOL.md).
    let features: WireBytes
    let agent = WireBytes(AgentVersion.line)

    func handle(_ request: Request, on connection: inout Connection) {
        guard let op = Control.Op(rawValue: request.header.op) else {
            connection.fail(request.header, .unsupported, "unknown control op \(request.header.op)")
            return
        }
        switch op {
        case .hello: serve(Control.HelloRequest.self, request, &connection, hello)
        case .ping: serve(Control.Ping.self, request, &connection, ping)
        }
    }

    private func ping(_ ping: Control.Ping, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        connection.respond(to: request, with: ping)
    }

    private func hello(_ hello: Control.HelloRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard hello.maxFrame == 0 || hello.maxFrame >= Control.minimumMaxFrame else {
            throw ServiceError(.badRequest, "MaxFrame \(hello.maxFrame) is below the minimum of \(Control.minimumMaxFrame)")
        }
        connection.respond(to: request, with: Control.HelloResponse(
            version: Control.protocolVersion, maxFrame: maxFrame, agent: agent, services: services, features: features))
        // From now on the peer's limit caps what the agent sends; 0 means it has none of its own.
        connection.peerMaxPayload = hello.maxFrame == 0 ? maxFrame : min(hello.maxFrame, maxFrame)
    }
}
