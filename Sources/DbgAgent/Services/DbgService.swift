import CSys
import DbgWire

/// The dbg service (0x60): sessions (Authenticate, Logout), commands (RunCommand,
/// RunShell), interactive shells (ShellOpen/Input/Resize/Close, ShellOutput and
/// ShellExit events) and files (ReadFile, WriteFile).
///
/// Nothing here blocks the loop. An authentication waits out its peer's throttle delay
/// on the timer and runs on a worker thread; a command runs as a child process whose
/// pipes the loop watches. Either answer is queued once it is ready and the
/// connection's transmit buffer has room, so answers come in the order they finish.
final class DbgService {
    static let maxUsernameLength = 256
    static let maxPasswordLength = 1024
    /// The failure that ends a connection.
    static let maxFailuresPerConnection = 3
    /// Room an answer of this service needs: SessionInfo is bounded by a passwd line.
    static let replyRoom = FrameHeader.size + 2 * TextFile.maxLineLength

    let authenticator: Authenticator
    /// Authentication (and PAM session ends): `--max-auth` threads of their own, so no
    /// file job can keep anyone from logging in.
    let workers: WorkerPool<WorkerJob>
    /// Hash, Rename's syncs, recursive Remove and distro Status: slow storage waits here,
    /// never on the loop and never in the authentication pool.
    let fileWorkers: WorkerPool<FileJob>
    let timer: DeadlineTimer
    let loop: EventLoop
    var attempts: AuthAttempts
    var throttle = AuthThrottle(capacity: 256)
    var sessions: SessionTable
    let commands: CommandTable
    var shells: ShellTable
    var files = OpenFileCache(capacity: 32)
    var orphans = OrphanSweep()
    /// The requests the file workers serve, while they run (at most four per thread).
    var fileJobs: [PendingFileJob?]
    static let fileWorkerThreads = 2
    let defaultChunk: Int
    let maxChunk: Int
    let execTimeoutSeconds: Int64
    let maxExecTimeoutSeconds: Int64

    init(config: AgentConfig, timer: DeadlineTimer, loop: EventLoop) throws(StartupError) {
        let authenticator = Authenticator(method: config.authMethod, passwdPath: config.passwdPath,
                                          shadowPath: config.shadowPath, groupPath: config.groupPath,
                                          allowEmptyPasswords: config.allowEmptyPasswords)
        self.authenticator = authenticator
        self.timer = timer
        self.loop = loop
        attempts = AuthAttempts(maxRunning: config.maxAuthInFlight)
        fileJobs = [PendingFileJob?](repeating: nil, count: 4 * DbgService.fileWorkerThreads)
        sessions = SessionTable(capacity: config.maxSessions)
        defaultChunk = config.defaultChunk
        maxChunk = config.maxChunk
        execTimeoutSeconds = config.execTimeoutSeconds
        maxExecTimeoutSeconds = config.maxExecTimeoutSeconds
        #if hasFeature(Embedded)
        let stackSize = 256 << 10  // musl's 128 KiB default is tight for the hash functions
        #else
        let stackSize = 0
        #endif
        do throws(Errno) {
            commands = try CommandTable(capacity: config.maxExec, maxOutput: config.maxOutput)
            shells = try ShellTable(capacity: config.maxShells, inputBufferSize: config.receiveBufferSize)
            // Each attempt and session needs at most one job at a time.
            workers = try WorkerPool(threads: config.maxAuthInFlight, capacity: AuthAttempts.capacity(config) + config.maxSessions,
                                     stackSize: stackSize) { job in job.perform(with: authenticator) }
            fileWorkers = try WorkerPool(threads: DbgService.fileWorkerThreads, capacity: 4 * DbgService.fileWorkerThreads,
                                         stackSize: stackSize) { job in
                job.run()
                return true
            }
        } catch {
            throw StartupError("cannot set up the dbg service: \(error.message)")
        }
    }

    func handle(_ request: Request, on connection: inout Connection) {
        guard let op = Dbg.Op(rawValue: request.header.op) else {
            connection.fail(request.header, .unsupported, "unknown dbg op 0x\(hex(UInt32(request.header.op), digits: 4))")
            return
        }
        switch op {
        case .authenticate:
            decode(Dbg.AuthRequest.self, request, &connection) { auth, connection in
                authenticate(auth, request.header, &connection)
            }
        case .logout:
            decode(Dbg.SessionToken.self, request, &connection) { token, connection in
                logout(token, request.header, &connection)
            }
        case .runCommand, .runShell:
            decode(Dbg.ExecRequest.self, request, &connection) { exec, connection in
                run(exec, throughShell: op == .runShell, request.header, &connection)
            }
        case .shellOpen:
            decode(Dbg.ShellOpenRequest.self, request, &connection) { open, connection in
                openShell(open, request.header, &connection)
            }
        case .shellInput:
            decode(Dbg.ShellInputRequest.self, request, &connection) { input, connection in
                shellInput(input, request.header, &connection)
            }
        case .shellResize:
            decode(Dbg.ShellResizeRequest.self, request, &connection) { resize, connection in
                resizeShell(resize, request.header, &connection)
            }
        case .readFile:
            decode(Dbg.ReadFileRequest.self, request, &connection) { read, connection in
                readFile(read, request.header, &connection)
            }
        case .writeFile:
            decode(Dbg.WriteFileRequest.self, request, &connection) { write, connection in
                writeFile(write, request.header, &connection)
            }
        case .stat:
            decode(Dbg.PathRequest.self, request, &connection) { statFile($0, request.header, &$1) }
        case .listDir:
            decode(Dbg.ListDirRequest.self, request, &connection) { listDirectory($0, request.header, &$1) }
        case .mkdir:
            decode(Dbg.MkdirRequest.self, request, &connection) { makeDirectory($0, request.header, &$1) }
        case .remove:
            decode(Dbg.RemoveRequest.self, request, &connection) { removeFile($0, request.header, &$1) }
        case .rename:
            decode(Dbg.RenameRequest.self, request, &connection) { renameFile($0, request.header, &$1) }
        case .hash:
            decode(Dbg.HashRequest.self, request, &connection) { hashFile($0, request.header, &$1) }
        case .shellClose:
            decode(Dbg.ShellCloseRequest.self, request, &connection) { close, connection in
                closeShell(close, request.header, &connection)
            }
        }
    }

    /// The session a request's token names, or nil after answering Unauthenticated or Denied.
    func session(for token: WireBytes, _ request: FrameHeader, _ connection: inout Connection) -> Session? {
        switch sessions.lookup(token, connectionSlot: connection.slot, generation: connection.generation) {
        case .found(let index):
            return sessions[index]
        case .unknown:
            connection.fail(request, .unauthenticated, "unknown or expired token (Authenticate first)")
        case .otherConnection:
            connection.fail(request, .denied, "the token belongs to another connection")
        }
        return nil
    }

    /// Queues the answers that are ready for this connection while there is room.
    /// Returns why the connection must close, if it must.
    func deliverReplies(to connection: inout Connection) -> String? {
        for index in attempts.indices {
            guard let attempt = attempts[index], attempt.connectionSlot == connection.slot,
                  attempt.connectionGeneration == connection.generation,
                  case .finished(let result) = attempt.state else { continue }
            guard connection.transmit.reserveWritable(DbgService.replyRoom) else { return nil }
            attempts[index] = nil
            if let reason = answer(attempt, result, &connection) { return reason }
        }
        for index in 0..<commands.capacity {
            let command = commands[index]
            guard command.state == .finished, command.connectionSlot == connection.slot,
                  command.connectionGeneration == connection.generation else { continue }
            guard connection.transmit.reserveWritable(command.resultSize) else { return nil }
            if command.service == ServiceID.distro {
                connection.respond(to: command.request, with: command.runResult)
            } else {
                connection.respond(to: command.request, with: command.result)
            }
            commands.release(index)
        }
        deliverFileJobs(&connection)
        _ = finishExitedShells(&connection)
        return nil
    }

    /// SIGCHLD: reaps the commands and shells that exited; `ready` gets each connection
    /// slot that now has something to send.
    func reap(_ ready: (Int) -> Void) {
        reapCommands(ready)
        reapShells(ready)
        // What exited may have left descendants behind, or been one of them.
        timer.schedule(orphans.request(now: MonotonicClock.now()))
    }

    /// The pids of the commands and shells still running.
    var runningPIDs: [Int32] {
        var pids: [Int32] = []
        for index in 0..<commands.capacity where commands[index].state == .running { pids.append(commands[index].pid) }
        for index in 0..<shells.capacity where shells[index].state == .running { pids.append(shells[index].pid) }
        return pids
    }

    /// Runs what is due at `now` (throttled attempts, command timeouts) and returns the
    /// next deadline. `ready` gets each connection slot that now has an answer.
    func expire(now: Milliseconds, _ ready: (Int) -> Void) -> Milliseconds? {
        let deadlines = [startDueAttempts(now: now), expireCommands(now: now), expireShells(now: now),
                         files.closeIdle(now: now), orphans.sweepIfDue(now: now) { runningPIDs }]
        return deadlines.compactMap { $0 }.min()
    }

    // MARK: Connections and shutdown

    /// Ends the sessions of a closed connection, kills its commands' process groups and
    /// forgets its pending answers (a worker still running an attempt finishes, and its
    /// result is dropped).
    func connectionClosed(slot: Int, generation: UInt32) {
        sessions.removeAll(connectionSlot: slot, generation: generation) { session in
            session.user.pam.map(endPAMSession)
            files.close { owner, _ in owner == session.serial }
        }
        for index in attempts.indices {
            guard let attempt = attempts[index], attempt.connectionSlot == slot, attempt.connectionGeneration == generation
            else { continue }
            switch attempt.state {
            case .running:
                attempts[index]!.connectionSlot = -1  // answered to nobody; freed when the worker is done
            case .finished(.success(let user)):
                user.pam.map(endPAMSession)
                attempts[index] = nil
            case .waiting(var job):
                job.wipePassword()
                attempts[index] = nil
            case .finished:
                attempts[index] = nil
            }
        }
        dropShells(connectionSlot: slot, generation: generation)
        dropFileJobs(connectionSlot: slot, generation: generation)
        for index in 0..<commands.capacity {
            guard commands[index].connectionSlot == slot, commands[index].connectionGeneration == generation else { continue }
            switch commands[index].state {
            case .running:
                commands[index].signalGroup(CSYS_SIGKILL)
                commands[index].connectionSlot = -1  // freed when reaped
            case .finished:
                commands.release(index)
            case .free:
                break
            }
        }
    }

    /// Before the agent exits: kills every command's group and closes every PAM session
    /// (it may block; nothing else runs any more).
    func shutdown() {
        for index in 0..<commands.capacity where commands[index].state == .running {
            commands[index].signalGroup(CSYS_SIGKILL)
        }
        let now = MonotonicClock.now()
        for index in 0..<shells.capacity { shells[index].hangUp(now: now) }
        for index in 0..<sessions.capacity where sessions.isUsed(index) {
            sessions.remove(index).user.pam?.end()
        }
        orphans.sweep(running: [])
    }

    /// pam_close_session may block (it can talk to logind): a worker does it.
    func endPAMSession(_ session: PAMSession) {
        if !workers.submit(.endSession(session)) { session.end() }
    }
}
