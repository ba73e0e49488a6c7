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
        case .hello:
            decode(Control.HelloRequest.self, request, &connection) { hello, connection in
                guard hello.maxFrame == 0 || hello.maxFrame >= Control.minimumMaxFrame else {
                    connection.fail(request.header, .badRequest,
                                    "MaxFrame \(hello.maxFrame) is below the minimum of \(Control.minimumMaxFrame)")
                    return
                }
                connection.respond(to: request.header, with: Control.HelloResponse(
                    version: Control.protocolVersion, maxFrame: maxFrame, agent: agent,
                    services: services, features: features))
                // From now on the peer's limit caps what the agent sends; 0 means it has none of its own.
                connection.peerMaxPayload = hello.maxFrame == 0 ? maxFrame : min(hello.maxFrame, maxFrame)
            }
        case .ping:
            decode(Control.Ping.self, request, &connection) { ping, connection in
                connection.respond(to: request.header, with: ping)
            }
        }
    }
}

/// Decodes the request payload as `M` and hands it on, or answers BadRequest.
func decode<M: WireCodable>(
    _: M.Type, _ request: Request, _ connection: inout Connection, _ handle: (M, inout Connection) -> Void
) {
    do throws(WireError) {
        let message = try M.decode(payload: request.payload)
        handle(message, &connection)
    } catch {
        connection.fail(request.header, .badRequest, error.message)
    }
}
