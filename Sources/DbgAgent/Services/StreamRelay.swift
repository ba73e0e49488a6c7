import CSys
import DbgWire

/// The Sutra side of streaming processes: ProcessStart, ProcessInput, ProcessCloseInput,
/// ProcessSignal and ProcessResize answered; stdout and stderr relayed as ProcessStdout
/// and ProcessStderr events straight from the pipes into the transmit buffer while the
/// connection keeps up; input credits; ProcessExit once the rest is out. Who may use a
/// process is the service's to decide before it calls.
struct StreamRelay {
    /// Bytes of output per event, and the size asked for the pipes.
    static let outputChunk = 256 << 10

    let processes: ProcessHost

    /// The events of the service a process was started through: dbg's Process*, or
    /// distro's Run* (the same layouts).
    private struct Events {
        let service: UInt32
        let stdout: UInt16
        let stderr: UInt16
        let credit: UInt16
        let exit: UInt16
    }

    private func events(of index: Int) -> Events {
        processes.streams[index].reply.request.service == ServiceID.distro
            ? Events(service: ServiceID.distro, stdout: Distro.Event.runStdout.rawValue, stderr: Distro.Event.runStderr.rawValue,
                     credit: Distro.Event.runInputCredit.rawValue, exit: Distro.Event.runExit.rawValue)
            : Events(service: ServiceID.dbg, stdout: Dbg.Event.processStdout.rawValue, stderr: Dbg.Event.processStderr.rawValue,
                     credit: Dbg.Event.processInputCredit.rawValue, exit: Dbg.Event.processExit.rawValue)
    }

    /// Starts a process and answers ProcessStart with its ProcessID and input window.
    func start(_ spec: LaunchSpec, terminal: (rows: UInt16, cols: UInt16)?, timeoutSeconds: Int64, ownerSerial: UInt64,
               throughShell: Bool, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let index: Int
        do throws(ProcessHost.StartError) {
            index = try processes.startStream(spec, terminal: terminal, timeoutSeconds: timeoutSeconds, ownerSerial: ownerSerial,
                                              reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw error.serviceError(program: spec.argv[0], throughShell: throughShell, container: spec.container)
        }
        processes.updateInterest(ofStream: index, outputRoom: connection.hasOutputRoom)
        connection.respond(to: request, with: ProcessStarted(processID: processes.streams[index].id,
                                                                 inputWindow: UInt32(StreamingProcess.inputWindow)))
    }

    /// Input for the process in slot `index`, within its window. Input for a process
    /// that has exited is dropped: nothing could read it any more.
    func input(_ data: WireBytes, _ index: Int, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard !processes.streams[index].inputClosed else {
            throw ServiceError(.badRequest, "ProcessInput: process " + String(processes.streams[index].id)
                + " had its ProcessCloseInput")
        }
        if processes.streams[index].state == .running {
            guard data.count <= processes.streams[index].window.room else {
                throw ServiceError(.badRequest, "ProcessInput: " + String(data.count) + " bytes with "
                    + String(processes.streams[index].window.inFlight) + " in flight exceed the input window of "
                    + String(StreamingProcess.inputWindow) + " (wait for ProcessInputCredit)")
            }
            data.withUnsafeBytes { processes.streams[index].input($0) }
            sendCredit(index, &connection)
            processes.updateInterest(ofStream: index, outputRoom: connection.hasOutputRoom)
        }
        connection.respond(to: request, with: Empty())
    }

    /// End of input, after what waits.
    func closeInput(_ index: Int, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        if processes.streams[index].state == .running, !processes.streams[index].inputClosed {
            processes.streams[index].inputClosed = true
            processes.streams[index].inputEnding = true
            processes.streams[index].flushInput()
            sendCredit(index, &connection)
        }
        connection.respond(to: request, with: Empty())
    }

    func signal(_ index: Int, _ number: Int32, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard number >= 1 && number <= 64 else {
            throw ServiceError(.badRequest, "Signal: must be from 1 to 64, not " + String(number))
        }
        if processes.streams[index].state == .running { processes.streams[index].signal(number) }
        connection.respond(to: request, with: Empty())
    }

    func resize(_ index: Int, rows: Int64, cols: Int64, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let size = try ProcessHost.terminalSize(rows, cols)
        guard processes.streams[index].terminal, let master = processes.streams[index].descriptor(.stdout) else {
            throw ServiceError(.badRequest, "ProcessResize: process " + String(processes.streams[index].id) + " has no terminal")
        }
        guard csys_set_window_size(master.rawValue, size.rows, size.cols) == 0 else {
            throw ServiceError(.io, errno: Errno.current.code, "resizing the terminal: " + Errno.current.message)
        }
        connection.respond(to: request, with: Empty())
    }

    /// A pipe is ready: output to relay (or its end), or room for waiting input.
    func streamReady(_ index: Int, _ connection: inout Connection) {
        processes.streams[index].flushInput()
        sendCredit(index, &connection)
        relayOutput(index, &connection)
        processes.updateInterest(ofStream: index, outputRoom: connection.hasOutputRoom)
    }

    /// After a connection's output moved: its processes' pipes resume or pause, and
    /// credits that found no room go out.
    func outputMoved(_ connection: inout Connection) {
        for index in 0..<processes.streams.capacity where processes.streams[index].state == .running && processes.streams[index].reply.connection == connection.ref {
            sendCredit(index, &connection)
        }
        processes.updateInterest(ofStreamsOf: connection.ref, outputRoom: connection.hasOutputRoom)
    }

    /// A reaped process: the rest of its output and its last credit, then ProcessExit,
    /// and its slot is freed. False while output still waits for room (the exit stays
    /// posted).
    func finishExit(_ index: Int, _ connection: inout Connection) -> Bool {
        guard case .exited(let status) = processes.streams[index].state else { return true }
        guard relayOutput(index, &connection), connection.transmit.reserveWritable(2 * Connection.answerRoom) else {
            return false
        }
        // A terminal's last output may still be on its way through the line discipline:
        // all of it has come once the master reports its end (every slave closed).
        if processes.streams[index].terminal && processes.streams[index].stdout != nil { return false }
        processes.streams[index].window.drop()  // never to be written
        sendCredit(index, &connection)
        let signal = csys_term_signal(status)
        let events = events(of: index)
        _ = connection.emit(service: events.service, op: events.exit, ProcessExitEvent(
            processID: processes.streams[index].id, exitCode: Int64(csys_exit_code(status)), signal: signal,
            coreDumped: csys_core_dumped(status) != 0, timedOut: processes.streams[index].timedOut))
        processes.releaseStream(index)
        return true
    }

    /// stdout and stderr into events while the connection has room. Returns whether
    /// every pipe was read empty (false: output waits for room).
    @discardableResult
    private func relayOutput(_ index: Int, _ connection: inout Connection) -> Bool {
        let id = processes.streams[index].id
        let events = events(of: index)
        var drained = true
        for (stream, op) in [(StreamingProcess.Stream.stdout, events.stdout), (.stderr, events.stderr)] {
            while let fd = processes.streams[index].descriptor(stream) {
                guard connection.hasOutputRoom else {
                    drained = false
                    break
                }
                switch connection.relayOutput(from: fd, sessionID: id, service: events.service, op: op, limit: StreamRelay.outputChunk) {
                case .relayed:
                    continue
                case .nothingNew:
                    break
                case .noRoom:
                    drained = false
                case .ended, .failed:
                    processes.closeStream(index, stream)
                }
                break
            }
        }
        return drained
    }

    /// A ProcessInputCredit when one is due and fits.
    private func sendCredit(_ index: Int, _ connection: inout Connection) {
        guard processes.streams[index].window.creditDue > 0, connection.transmit.reserveWritable(Connection.answerRoom),
              let credit = processes.streams[index].window.takeCredit() else { return }
        let events = events(of: index)
        _ = connection.emit(service: events.service, op: events.credit,
                            ProcessCredit(processID: processes.streams[index].id, bytes: UInt32(credit)))
    }

}
