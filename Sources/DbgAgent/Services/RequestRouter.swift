import DbgWire

/// Hands each request to the service named in its header.
struct RequestRouter {
    let control: ControlService
    let dbg: DbgService

    /// The services Hello reports.
    static let served = [ServiceID.control, ServiceID.dbg]

    /// Whether the request can be handled now; if not, the connection's frames wait.
    func canHandle(_ request: Request) -> Bool {
        request.header.service == ServiceID.dbg ? dbg.canHandle(request) : true
    }

    func route(_ request: Request, on connection: inout Connection) {
        switch request.header.service {
        case ServiceID.control:
            control.handle(request, on: &connection)
        case ServiceID.dbg:
            dbg.handle(request, on: &connection)
        case ServiceID.distro:
            connection.fail(request.header, .unsupported, "the distro service (0x70) is not available in this agent")
        default:
            connection.fail(request.header, .unsupported, "unknown service 0x\(hex(request.header.service, digits: 8))")
        }
    }
}
