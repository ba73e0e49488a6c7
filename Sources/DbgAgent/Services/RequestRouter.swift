import DbgWire

/// The Sutra front end's dispatch: each request to the service named in its header, and
/// each completion to the service whose request it answers.
struct RequestRouter {
    let control: ControlService
    let dbg: DbgService
    #if DBG_NO_DISTRO
    /// The services Hello reports, and GET /api/v1/systems by name.
    static let served = [ServiceID.control, ServiceID.dbg]
    static let servedNames = ["control", "dbg"]
    #else
    let distro: DistroService

    static let served = [ServiceID.control, ServiceID.dbg, ServiceID.distro]
    static let servedNames = ["control", "dbg", "distro"]
    #endif

    /// Whether the request can be handled now; if not, the connection's frames wait.
    func readiness(of request: Request, on connection: borrowing Connection) -> RequestReadiness {
        switch request.header.service {
        case ServiceID.dbg: return dbg.readiness(of: request, on: connection)
        #if !DBG_NO_DISTRO
        case ServiceID.distro: return distro.readiness(of: request)
        #endif
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
            #if DBG_NO_DISTRO
            connection.fail(request.header, .unsupported, "this dbgd was built without the distro service (DBG_DISTRO=OFF)")
            #else
            distro.handle(request, on: &connection)
            #endif
        default:
            connection.fail(request.header, .unsupported, "unknown service 0x\(hex(request.header.service, digits: 8))")
        }
    }

    /// Queues the answer to a completion of this connection; false while there is no
    /// room for it yet. `closing` gets why the connection must end, if it must.
    func deliver(_ work: CompletionQueue.Work, _ connection: inout Connection, closing: inout String?) -> Bool {
        let core = dbg.core
        let service: UInt32?
        switch work {
        case .authentication: service = ServiceID.dbg
        case .command(let index): service = core.processes.commands[index].reply.request.service
        case .shellExit(let index):
            #if DBG_NO_SHELLS
            service = nil  // none is started: the ops that start them are left out
            _ = index
            #else
            service = core.processes.shells[index].reply.request.service
            #endif
        case .processExit(let index):
            #if DBG_NO_STREAMS
            service = nil  // none is started: the ops that start them are left out
            _ = index
            #else
            service = core.processes.streams[index].reply.request.service
            #endif
        case .fileJob(let index): service = core.fileJobs.reply(of: index)?.request.service
        case .distroJob: service = ServiceID.distro
        case .appAnswer, .flash: service = ServiceID.dbg
        }
        #if !DBG_NO_DISTRO
        if service == ServiceID.distro { return distro.deliver(work, &connection) }
        #endif
        return dbg.deliver(work, &connection, closing: &closing)
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

/// Decodes the request payload as `M` and hands it to `handle`; a decoding failure is
/// BadRequest, and what `handle` throws is the request's error answer.
func serve<M: WireCodable>(
    _: M.Type, _ request: Request, _ connection: inout Connection,
    _ handle: (M, FrameHeader, inout Connection) throws(ServiceError) -> Void
) {
    let message: M
    do throws(WireError) {
        message = try M.decode(payload: request.payload)
    } catch {
        return refuse(request.header, error, &connection)
    }
    do throws(ServiceError) {
        try handle(message, request.header, &connection)
    } catch {
        refuse(request.header, error, &connection)
    }
}

/// The error answers of a request, out of line: every op's handler shares them.
@inline(never)
func refuse(_ request: FrameHeader, _ error: ServiceError, _ connection: inout Connection) {
    connection.fail(request, error)
}

@inline(never)
func refuse(_ request: FrameHeader, _ error: WireError, _ connection: inout Connection) {
    connection.fail(request, .badRequest, error.message)
}
