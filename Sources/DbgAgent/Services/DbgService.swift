import CSys
import DbgWire

/// The dbg service (0x60) on the Sutra front end: sessions (Authenticate, Logout),
/// commands (RunCommand, RunShell), interactive shells (ShellOpen/Input/Resize/Close,
/// ShellOutput and ShellExit events) and files (ReadFile, WriteFile and the file ops).
///
/// An adapter over the service core: it decodes requests, checks what only the wire
/// knows (field forms, frame sizes), starts work in the core with the request's reply
/// address, and encodes the answers, immediate or posted (`deliver`). Answers to work
/// go out in the order the work finished.
final class DbgService {

    let core: ServiceCore
    #if !DBG_NO_SHELLS
    let relay: ShellRelay
    #endif
    #if !DBG_NO_STREAMS
    let streams: StreamRelay
    #endif
    #if !DBG_NO_FORWARD
    let forwards: ForwardRelay
    var forwarder: Forwarder { core.forwarder }
    #endif
    let defaultChunk: Int
    let maxChunk: Int
    let execTimeoutSeconds: Int64
    let maxExecTimeoutSeconds: Int64
    let maxFrame: UInt32
    #if !DBG_NO_APP
    /// The application runtime AppCall reaches; nil when it is off.
    var app: AppRuntime?
    #endif

    init(config: AgentConfig, core: ServiceCore) {
        self.core = core
        #if !DBG_NO_SHELLS
        relay = ShellRelay(processes: core.processes)
        #endif
        #if !DBG_NO_STREAMS
        streams = StreamRelay(processes: core.processes)
        #endif
        #if !DBG_NO_FORWARD
        forwards = ForwardRelay(forwarder: core.forwarder)
        #endif
        defaultChunk = config.defaultChunk
        maxChunk = config.maxChunk
        execTimeoutSeconds = config.execTimeoutSeconds
        maxExecTimeoutSeconds = config.maxExecTimeoutSeconds
        maxFrame = config.maxFrame
    }

    /// When ops can be handled: one spliced chunk at a time per connection; ShellInput
    /// after its shell's earlier input.
    func readiness(of request: Request, on connection: borrowing Connection) -> RequestReadiness {
        switch Dbg.Op(rawValue: request.header.op) {
        case .readFile: return connection.spliceRemaining > 0 ? .afterOutput : .now
        #if !DBG_NO_SHELLS
        case .shellInput:
            guard let input = try? Dbg.ShellInputRequest.decode(payload: request.payload) else { return .now }
            return core.processes.inputIsBlocked(shell: input.sessionID) ? .blocked : .now
        #endif
        default: return .now
        }
    }

    func handle(_ request: Request, on connection: inout Connection) {
        guard let op = Dbg.Op(rawValue: request.header.op) else {
            connection.fail(request.header, .unsupported, "unknown dbg op 0x\(hex(UInt32(request.header.op), digits: 4))")
            return
        }
        switch op {
        case .authenticate: serve(Dbg.AuthRequest.self, request, &connection, authenticate)
        case .logout: serve(Dbg.SessionToken.self, request, &connection, logout)
        case .runCommand: serve(Dbg.ExecRequest.self, request, &connection, runCommand)
        case .runShell: serve(Dbg.ExecRequest.self, request, &connection, runShell)
        #if DBG_NO_SHELLS
        case .shellOpen, .shellInput, .shellResize, .shellClose:
            connection.fail(request.header, .unsupported, "this dbgd was built without shells (DBG_SHELLS=OFF)")
        #else
        case .shellOpen: serve(Dbg.ShellOpenRequest.self, request, &connection, openShell)
        case .shellInput: serve(Dbg.ShellInputRequest.self, request, &connection, shellInput)
        case .shellResize: serve(Dbg.ShellResizeRequest.self, request, &connection, resizeShell)
        case .shellClose: serve(Dbg.ShellCloseRequest.self, request, &connection, closeShell)
        #endif
        case .readFile: serve(Dbg.ReadFileRequest.self, request, &connection, readFile)
        case .writeFile: serve(Dbg.WriteFileRequest.self, request, &connection, writeFile)
        #if DBG_NO_FILE_OPS
        case .stat, .listDir, .mkdir, .remove, .rename, .hash:
            connection.fail(request.header, .unsupported, "this dbgd was built without the file extension ops (DBG_FILE_OPS=OFF)")
        #else
        case .stat: serve(Dbg.PathRequest.self, request, &connection, statFile)
        case .listDir: serve(Dbg.ListDirRequest.self, request, &connection, listDirectory)
        case .mkdir: serve(Dbg.MkdirRequest.self, request, &connection, makeDirectory)
        case .remove: serve(Dbg.RemoveRequest.self, request, &connection, removeFile)
        case .rename: serve(Dbg.RenameRequest.self, request, &connection, renameFile)
        case .hash: serve(Dbg.HashRequest.self, request, &connection, hashFile)
        #endif
        #if DBG_NO_STREAMS
        case .processStart, .processInput, .processCloseInput, .processSignal, .processResize:
            connection.fail(request.header, .unsupported, "this dbgd was built without streaming processes (DBG_STREAMS=OFF)")
        #else
        case .processStart: serve(Dbg.ProcessStartRequest.self, request, &connection, startProcess)
        case .processInput: serve(Dbg.ProcessInputRequest.self, request, &connection, processInput)
        case .processCloseInput: serve(Dbg.ProcessRef.self, request, &connection, closeProcessInput)
        case .processSignal: serve(Dbg.ProcessSignalRequest.self, request, &connection, signalProcess)
        case .processResize: serve(Dbg.ProcessResizeRequest.self, request, &connection, resizeProcess)
        #endif
        case .streamConnect, .streamListen, .streamUnlisten, .streamSend, .streamAck, .streamClose:
            #if DBG_NO_FORWARD
            connection.fail(request.header, .unsupported, "this dbgd was built without port forwarding (DBG_FORWARD=OFF)")
            #else
            handleForward(op, request, &connection)
            #endif
        case .appCall:
            #if DBG_NO_APP
            connection.fail(request.header, .unsupported, "this dbgd was built without the application runtime (DBG_APP=OFF)")
            #else
            serve(Dbg.AppCallRequest.self, request, &connection, appCall)
            #endif
        case .flashOpen, .flashWrite, .flashVerify, .flashFinish:
            #if DBG_NO_FLASH
            connection.fail(request.header, .unsupported, "this dbgd was built without flashing (DBG_FLASH=OFF)")
            #else
            handleFlash(op, request, &connection)
            #endif
        }
    }

    /// The session a request's token names on this connection.
    func session(for token: WireBytes, on connection: borrowing Connection) throws(ServiceError) -> Session {
        switch core.sessions.lookup(token, on: connection.ref) {
        case .found(let index): return core.sessions.sessions[index]
        case .unknown: throw ServiceError(.unauthenticated, "unknown or expired token (Authenticate first)")
        case .otherConnection: throw ServiceError(.denied, "the token belongs to another connection")
        }
    }

    /// Queues the answer to work of this service that finished; false while the transmit
    /// buffer has no room for it (it stays posted). `closing` gets why the connection
    /// must end, if it must.
    func deliver(_ work: CompletionQueue.Work, _ connection: inout Connection, closing: inout String?) -> Bool {
        switch work {
        case .authentication(let index):
            guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
            guard let (attempt, result) = core.sessions.takeAttempt(index) else { return true }
            closing = answer(attempt, result, &connection)
        case .command(let index):
            let processes = core.processes
            guard connection.transmit.reserveWritable(processes.commands[index].replySize) else { return false }
            connection.respond(to: processes.commands[index].reply.request, with: processes.commands[index].execResult)
            core.processes.releaseCommand(index)
        case .fileJob(let index):
            #if !DBG_NO_FILE_OPS
            guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
            deliverFileJob(core.fileJobs.take(index), &connection)
            #else
            _ = core.fileJobs.take(index)  // none is started: the ops that start them are left out
            #endif
        case .shellExit(let index):
            #if !DBG_NO_SHELLS
            return relay.finishExit(index, &connection)
            #endif
        case .processExit(let index):
            #if !DBG_NO_STREAMS
            return streams.finishExit(index, &connection)
            #endif
        case .appAnswer(let slot):
            #if !DBG_NO_APP
            return deliverAppAnswer(slot, &connection)
            #endif
        case .flash(let index):
            #if !DBG_NO_FLASH
            return deliverFlash(index, &connection)
            #endif
        case .distroJob:
            break  // the distro service's own; the router never hands it here
        }
        return true
    }
}
