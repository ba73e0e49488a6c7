import DbgWire

/// Hands each request to the service named in its header.
struct RequestRouter {
    let control: ControlService
    let dbg: DbgService
    let distro: DistroService

    /// The services Hello reports.
    static let served = [ServiceID.control, ServiceID.dbg, ServiceID.distro]

    /// Whether the request can be handled now; if not, the connection's frames wait.
    func readiness(of request: Request, on connection: Connection) -> RequestReadiness {
        switch request.header.service {
        case ServiceID.dbg: return dbg.readiness(of: request, on: connection)
        case ServiceID.distro: return distro.readiness(of: request)
        default: return .now
        }
    }

    func route(_ request: Request, on connection: inout Connection) {
        switch request.header.service {
        case ServiceID.control:
            control.handle(request, on: &connection)
        case ServiceID.dbg:
            dbg.handle(request, on: &connection)
        case ServiceID.distro:
            distro.handle(request, on: &connection)
        default:
            connection.fail(request.header, .unsupported, "unknown service 0x\(hex(request.header.service, digits: 8))")
        }
    }
}

/// When a request can be handled.
enum RequestReadiness {
    case now
    /// Once the connection's pending output has gone out (a file chunk still splicing).
    case afterOutput
    /// Once something else has happened (a shell's PTY has taken earlier keystrokes).
    case blocked
}
