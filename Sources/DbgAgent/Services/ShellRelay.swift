import DbgWire

/// The Sutra side of shells, for the dbg and distro services alike: open, input,
/// resize and close answered; PTY output relayed as ShellOutput events straight from the
/// master into the transmit buffer while the connection keeps up, and ShellExit once the
/// rest is out. The shell's ShellOpen says which service's events it sends. Who may use
/// a shell is the services' to decide before they call.
struct ShellRelay {
    /// Bytes of PTY output per ShellOutput event.
    static let outputChunk = 32 << 10

    let processes: ProcessHost

    /// Starts a shell and answers ShellOpen with its SessionID, or why not.
    func open(_ spec: LaunchSpec, _ size: (rows: UInt16, cols: UInt16), ownerSerial: UInt64, _ request: FrameHeader,
              _ connection: inout Connection) throws(ServiceError) {
        let index: Int
        do throws(ProcessHost.StartError) {
            index = try processes.startShell(spec, rows: size.rows, cols: size.cols, ownerSerial: ownerSerial,
                                             reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw error.serviceError(program: spec.program ?? spec.argv[0], throughShell: true, container: spec.container)
        }
        started(index, connection)
        connection.respond(to: request, with: ShellSession(sessionID: processes.shells[index].id))
    }

    /// Keystrokes for shell `index`.
    func input(_ data: WireBytes, _ index: Int, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let id = processes.shells[index].id
        let taken: Bool
        do throws(Errno) {
            taken = try data.withUnsafeBytes { (bytes) throws(Errno) in try processes.writeInput(bytes, toShell: index) }
        } catch {
            throw ServiceError(.io, errno: error.code, "writing to shell " + String(id) + ": " + error.message)
        }
        guard taken else { throw ServiceError(.busy, "shell " + String(id) + " is still taking earlier input") }
        started(index, connection)
        connection.respond(to: request, with: Empty())
    }

    func resize(_ index: Int, rows: Int64, cols: Int64, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let size = try ProcessHost.terminalSize(rows, cols)
        do throws(Errno) {
            try processes.resize(shell: index, rows: size.rows, cols: size.cols)
        } catch {
            throw ServiceError(.io, errno: error.code, "resizing shell " + String(processes.shells[index].id) + ": " + error.message)
        }
        connection.respond(to: request, with: Empty())
    }

    /// Hangs the shell up; its ShellExit still follows.
    func close(_ index: Int, _ request: FrameHeader, _ connection: inout Connection) {
        processes.hangUp(shell: index)
        connection.respond(to: request, with: Empty())
    }

    /// The PTY master is readable (output, or its end) or writable (waiting input).
    /// Returns whether the connection's held-back frames may go on.
    func shellReady(_ index: Int, _ readiness: Readiness, _ connection: inout Connection) -> Bool {
        if readiness.readable {
            guard connection.hasOutputRoom else {
                // Not watched for output now, so this is a hang-up, which epoll repeats.
                processes.pauseOutput(ofShell: index)
                return false
            }
            relayOutput(index, &connection)
        }
        let unblocked = readiness.writable && processes.flushInput(ofShell: index)
        processes.updateInterest(ofShell: index, outputRoom: connection.hasOutputRoom)
        return unblocked
    }

    /// After a connection's output moved: its shells' PTYs resume or pause.
    func outputMoved(_ connection: borrowing Connection) {
        processes.updateInterest(ofShellsOf: connection.ref, outputRoom: connection.hasOutputRoom)
    }

    /// Its PTY is watched as the connection allows (a new shell, new waiting input).
    private func started(_ index: Int, _ connection: borrowing Connection) {
        processes.updateInterest(ofShell: index, outputRoom: connection.hasOutputRoom)
    }

    /// PTY output into ShellOutput events while the transmit buffer is below its mark.
    private func relayOutput(_ index: Int, _ connection: inout Connection) {
        let service = processes.shells[index].reply.request.service
        let id = processes.shells[index].id
        let op = service == ServiceID.distro ? Distro.Event.shellOutput.rawValue : Dbg.Event.shellOutput.rawValue
        while !processes.shells[index].outputEnded, connection.hasOutputRoom,
              let master = processes.shells[index].master?.descriptor {
            switch connection.relayOutput(from: master, sessionID: id, service: service, op: op, limit: ShellRelay.outputChunk) {
            case .relayed:
                continue
            case .nothingNew, .noRoom:
                return
            case .ended, .failed:
                processes.outputEnded(ofShell: index)
            }
        }
    }

    /// A reaped shell: the rest of its output, then ShellExit, and its slot is freed.
    /// False while output still waits for room (the exit stays posted).
    func finishExit(_ index: Int, _ connection: inout Connection) -> Bool {
        guard case .exited(let code) = processes.shells[index].state else { return true }
        relayOutput(index, &connection)
        guard connection.hasOutputRoom,
              connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
        let service = processes.shells[index].reply.request.service
        let op = service == ServiceID.distro ? Distro.Event.shellExit.rawValue : Dbg.Event.shellExit.rawValue
        _ = connection.emit(service: service, op: op, ShellExitEvent(sessionID: processes.shells[index].id, exitCode: code))
        processes.releaseShell(index)
        return true
    }
}
