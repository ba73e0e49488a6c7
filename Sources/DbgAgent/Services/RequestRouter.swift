import DbgWire

/// Hands each request to the service named in its header.
struct RequestRouter {
    let control: ControlService

    func route(_ request: Request, on connection: inout Connection) {
        switch request.header.service {
        case ServiceID.control:
            control.handle(request, on: &connection)
        case ServiceID.dbg, ServiceID.distro:
            let name = request.header.service == ServiceID.dbg ? "dbg" : "distro"
            connection.fail(request.header, .unsupported,
                            "the \(name) service (0x\(hex(request.header.service, digits: 2))) is not available in this agent")
        default:
            connection.fail(request.header, .unsupported, "unknown service 0x\(hex(request.header.service, digits: 8))")
        }
    }
}
