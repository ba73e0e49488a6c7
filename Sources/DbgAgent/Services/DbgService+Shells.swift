import CSys
import DbgWire

/// ShellOpen, ShellInput, ShellResize, ShellClose and the ShellOutput and ShellExit
/// events: a login shell on a PTY, its output relayed as events while the connection
/// keeps up, its input written as the PTY takes it.
extension DbgService {
    static let defaultRows: Int64 = 24
    static let defaultCols: Int64 = 80
    static let maxTerminalSide: Int64 = 10_000
    /// Bytes of PTY output per ShellOutput event.
    static let outputChunk = 32 << 10

    func openShell(_ open: Dbg.ShellOpenRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let session = session(for: open.token, request, &connection) else { return }
        guard let (rows, cols) = terminalSize(open.rows, open.cols, request, &connection) else { return }
        guard !open.cwd.containsNUL else { return connection.fail(request, .badRequest, "Cwd: contains a NUL byte") }
        let account = session.user.account
        let cwd = DbgService.workingDirectory(open.cwd.bytes, home: Array(account.home.utf8))
        if let (code, message) = DbgService.directoryProblem(cwd, as: account) { return connection.fail(request, code, message) }
        // A login shell: argv[0] is the shell's name with a leading '-'.
        let program = Array(account.shell.utf8)
        let name = program.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? program
        let spec = LaunchSpec(
            program: program, argv: [[UInt8(ascii: "-")] + name],
            environment: UserEnvironment.variables(for: account, extra: [DbgService.terminalType]),
            searchPath: UserEnvironment.searchPath(for: account), cwd: cwd, identity: UserEnvironment.identity(for: account))
        startShell(spec, rows: rows, cols: cols, service: ServiceID.dbg, ownerSerial: session.serial, request, &connection)
    }

    static let terminalType = Array("TERM=xterm-256color".utf8)

    /// Starts `spec` on a new PTY in a free shell slot and answers ShellOpen: the
    /// ShellSession, or why it could not start.
    func startShell(_ spec: LaunchSpec, rows: UInt16, cols: UInt16, service: UInt32, ownerSerial: UInt64,
                    _ request: FrameHeader, _ connection: inout Connection) {
        guard let index = shells.freeSlot else {
            return connection.fail(request, .busy, "all \(shells.capacity) shells are in use")
        }
        var master: Int32 = -1
        var slave: Int32 = -1
        guard csys_open_pty(&master, &slave, rows, cols) == 0 else {
            let error = Errno.current
            return connection.fail(request, .io, errno: error.code, "cannot open a PTY: \(error.message)")
        }
        var onTerminal = spec
        onTerminal.io = .terminal(FileDescriptor(slave))
        let launched = ProcessLauncher.launch(onTerminal)
        FileDescriptor(slave).close()  // the shell has its own; the master then sees when all are gone
        switch launched {
        case .failure(let failure):
            FileDescriptor(master).close()
            let (code, message) = DbgService.describe(failure, program: spec.program ?? spec.argv[0], throughShell: true,
                                                      container: spec.container)
            connection.fail(request, code, errno: code == .io ? failure.errno.code : 0, message)
        case .success(let pid):
            let id = shells.newID()
            shells[index].state = .running
            shells[index].id = id
            shells[index].pid = pid
            shells[index].master = FileDescriptor(master)
            shells[index].connectionSlot = connection.slot
            shells[index].connectionGeneration = connection.generation
            shells[index].ownerSerial = ownerSerial
            shells[index].service = service
            updateShellInterest(index, transmitPending: connection.pendingOutput)
            connection.respond(to: request, with: ShellSession(sessionID: id))
        }
    }

    func shellInput(_ input: Dbg.ShellInputRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let index = ownedShell(input.token, input.sessionID, request, &connection) else { return }
        writeShellInput(input.data, index, request, &connection)
    }

    func resizeShell(_ resize: Dbg.ShellResizeRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let index = ownedShell(resize.token, resize.sessionID, request, &connection) else { return }
        resizeShell(index, rows: resize.rows, cols: resize.cols, request, &connection)
    }

    func closeShell(_ close: Dbg.ShellCloseRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let index = ownedShell(close.token, close.sessionID, request, &connection) else { return }
        closeShell(index, request, &connection)
    }

    /// Keystrokes for the shell in slot `index`.
    func writeShellInput(_ data: WireBytes, _ index: Int, _ request: FrameHeader, _ connection: inout Connection) {
        let id = shells[index].id
        do throws(Errno) {
            let taken = try data.withUnsafeBytes { (bytes) throws(Errno) in try shells[index].write(bytes) }
            if !taken { return connection.fail(request, .busy, "shell \(id) is still taking earlier input") }
        } catch {
            return connection.fail(request, .io, errno: error.code, "writing to shell \(id): \(error.message)")
        }
        updateShellInterest(index, transmitPending: connection.pendingOutput)
        connection.respond(to: request, with: Empty())
    }

    func resizeShell(_ index: Int, rows: Int64, cols: Int64, _ request: FrameHeader, _ connection: inout Connection) {
        guard let (rows, cols) = terminalSize(rows, cols, request, &connection) else { return }
        // The kernel sends SIGWINCH to the terminal's foreground process group.
        guard csys_set_window_size(shells[index].master.rawValue, rows, cols) == 0 else {
            let error = Errno.current
            return connection.fail(request, .io, errno: error.code, "resizing shell \(shells[index].id): \(error.message)")
        }
        connection.respond(to: request, with: Empty())
    }

    func closeShell(_ index: Int, _ request: FrameHeader, _ connection: inout Connection) {
        shells[index].hangUp(now: MonotonicClock.now())
        timer.schedule(shells[index].killAt!)
        connection.respond(to: request, with: Empty())
    }

    /// Whether ShellInput for shell `id` can be handled now: while earlier input for it
    /// still waits for the PTY, it waits too (in order, and nothing queues without bound).
    func shellInputIsBlocked(sessionID id: UInt32) -> Bool {
        guard let index = shells.index(of: id) else { return false }
        return !shells[index].pendingInput.isEmpty
    }

    /// The running shell `id`, if the request's session owns it; otherwise answers.
    private func ownedShell(_ token: WireBytes, _ id: UInt32, _ request: FrameHeader, _ connection: inout Connection) -> Int? {
        guard let session = session(for: token, request, &connection) else { return nil }
        guard let index = shells.index(of: id), shells[index].state == .running, shells[index].service == ServiceID.dbg else {
            connection.fail(request, .notFound, "no shell with SessionID \(id)")
            return nil
        }
        guard shells[index].ownerSerial == session.serial else {
            connection.fail(request, .denied, "shell \(id) belongs to another session")
            return nil
        }
        return index
    }

    /// Rows and Cols: 0 means 24 x 80; negative or above 10000 is BadRequest.
    func terminalSize(_ rows: Int64, _ cols: Int64, _ request: FrameHeader,
                              _ connection: inout Connection) -> (UInt16, UInt16)? {
        for (name, value) in [("Rows", rows), ("Cols", cols)] where value < 0 || value > DbgService.maxTerminalSide {
            connection.fail(request, .badRequest, "\(name): must be from 0 to \(DbgService.maxTerminalSide), not \(value)")
            return nil
        }
        return (UInt16(rows == 0 ? DbgService.defaultRows : rows), UInt16(cols == 0 ? DbgService.defaultCols : cols))
    }

    private func shellToken(_ index: Int) -> EventToken {
        EventToken(.shell, index: UInt32(index), generation: shells[index].generation)
    }

    // MARK: PTY events

    /// The connection slot a PTY event is for; nil for a stale event.
    func connectionSlot(ofShell token: EventToken) -> Int? {
        let index = Int(token.index)
        guard index < shells.capacity, shells[index].state != .free, shellToken(index) == token,
              shells[index].connectionSlot >= 0 else { return nil }
        return shells[index].connectionSlot
    }

    /// The PTY master is readable (output, or its end) or writable (waiting input).
    /// Returns whether the connection's waiting frames may go on.
    func shellReady(_ token: EventToken, _ readiness: Readiness, _ connection: inout Connection) -> Bool {
        let index = Int(token.index)
        guard shells[index].connectionSlot == connection.slot,
              shells[index].connectionGeneration == connection.generation else { return false }
        if readiness.readable {
            if connection.pendingOutput > AgentConfig.transmitBatch {
                // Not watched for output now, so this is a hang-up, which epoll repeats on
                // every poll: out of epoll until the connection catches up.
                watch(index, nil)
                return false
            }
            relayOutput(index, &connection)
        }
        var unblocked = false
        if readiness.writable, !shells[index].pendingInput.isEmpty {
            do throws(Errno) {
                try shells[index].flushInput()
            } catch {
                shells[index].pendingInput.clear()  // the terminal is gone
            }
            unblocked = shells[index].pendingInput.isEmpty
        }
        updateShellInterest(index, transmitPending: connection.pendingOutput)
        return unblocked
    }

    /// PTY output into ShellOutput events while the transmit buffer is below its mark.
    private func relayOutput(_ index: Int, _ connection: inout Connection) {
        while !shells[index].outputEnded, connection.pendingOutput <= AgentConfig.transmitBatch {
            let service = shells[index].service
            let op = service == ServiceID.distro ? Distro.Event.shellOutput.rawValue : Dbg.Event.shellOutput.rawValue
            switch connection.relayOutput(from: shells[index].master, sessionID: shells[index].id, service: service,
                                          op: op, limit: DbgService.outputChunk) {
            case .relayed:
                continue
            case .nothingNew, .noRoom:
                return
            case .ended:
                // Every slave descriptor is closed; the master would report a hang-up on
                // every poll from now on, so it leaves epoll. Waiting input is moot.
                shells[index].outputEnded = true
                shells[index].pendingInput.clear()
                watch(index, nil)
            }
        }
    }

    /// Watches a PTY for output only while its connection keeps up (back-pressure), and
    /// for room while keystrokes wait.
    func updateShellInterest(_ index: Int, transmitPending: Int) {
        guard shells[index].state != .free, !shells[index].outputEnded, shells[index].connectionSlot >= 0 else { return }
        var wanted = Interest()
        if transmitPending <= AgentConfig.transmitBatch { wanted.insert(.readable) }
        if !shells[index].pendingInput.isEmpty { wanted.insert(.writable) }
        watch(index, wanted.isEmpty ? nil : wanted)
    }

    /// Puts the master in epoll with `interest`, or takes it out (nil).
    private func watch(_ index: Int, _ interest: Interest?) {
        shells[index].registered = loop.update(shells[index].master, from: shells[index].registered, to: interest,
                                               shellToken(index))
    }

    /// After a connection's output moved: resume or pause its shells' PTYs.
    func updateShellInterest(for connection: Connection) {
        for index in 0..<shells.capacity
        where shells[index].connectionSlot == connection.slot && shells[index].connectionGeneration == connection.generation {
            updateShellInterest(index, transmitPending: connection.pendingOutput)
        }
    }

    /// For an exited shell of this connection: the rest of its output, then ShellExit.
    /// Returns false while output is still waiting for room.
    func finishExitedShells(_ connection: inout Connection) -> Bool {
        for index in 0..<shells.capacity {
            guard case .exited(let code) = shells[index].state, shells[index].connectionSlot == connection.slot,
                  shells[index].connectionGeneration == connection.generation else { continue }
            relayOutput(index, &connection)
            guard connection.pendingOutput <= AgentConfig.transmitBatch,
                  connection.transmit.reserveWritable(DbgService.replyRoom) else { return false }
            let service = shells[index].service
            let op = service == ServiceID.distro ? Distro.Event.shellExit.rawValue : Dbg.Event.shellExit.rawValue
            _ = connection.emit(service: service, op: op, ShellExitEvent(sessionID: shells[index].id, exitCode: code))
            releaseShell(index)
        }
        return true
    }

    // MARK: Ends

    /// SIGCHLD: reaps shells that exited.
    func reapShells(_ ready: (Int) -> Void) {
        for index in 0..<shells.capacity where shells[index].state == .running {
            var status: Int32 = 0
            guard waitpid(shells[index].pid, &status, CSYS_WNOHANG) == shells[index].pid else { continue }
            shells[index].state = .exited(code: Int64(csys_exit_code(status)))
            shells[index].pendingInput.clear()  // nobody will read it now
            if shells[index].connectionSlot < 0 {
                releaseShell(index)
            } else {
                ready(shells[index].connectionSlot)
            }
        }
    }

    /// SIGKILL for hung-up shells that are still alive after the grace time.
    func expireShells(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for index in 0..<shells.capacity where shells[index].state == .running {
            guard let killAt = shells[index].killAt, killAt != .max else { continue }
            if now >= killAt {
                _ = kill(-shells[index].pid, CSYS_SIGKILL)
                shells[index].killAt = .max
            } else {
                next = min(next ?? killAt, killAt)
            }
        }
        return next
    }

    /// Logout: the session's shells are hung up; their ShellExit events still follow.
    func hangUpShells(ofSession serial: UInt64) {
        let now = MonotonicClock.now()
        for index in 0..<shells.capacity where shells[index].ownerSerial == serial && shells[index].state == .running {
            shells[index].hangUp(now: now)
            timer.schedule(shells[index].killAt!)
        }
    }

    /// Disconnect: the connection's shells are hung up and forgotten once reaped.
    func dropShells(connectionSlot slot: Int, generation: UInt32) {
        let now = MonotonicClock.now()
        for index in 0..<shells.capacity
        where shells[index].connectionSlot == slot && shells[index].connectionGeneration == generation {
            if shells[index].state == .running {
                shells[index].hangUp(now: now)
                timer.schedule(shells[index].killAt!)
                closeMaster(index)
                shells[index].connectionSlot = -1
            } else {
                releaseShell(index)
            }
        }
    }

    private func closeMaster(_ index: Int) {
        guard shells[index].master.rawValue >= 0 else { return }
        watch(index, nil)
        shells[index].master.close()
        shells[index].master = FileDescriptor(-1)
        shells[index].outputEnded = true
    }

    private func releaseShell(_ index: Int) {
        closeMaster(index)
        shells.release(index)
    }
}
