import CSys
import DbgWire

/// The calls a WebSocket runs (docs/PROTOCOL.md, "HTTP and WebSocket API"): each a
/// streaming process of the process host, started as the session's user. Its output
/// goes out as text lines, its end as the ResultMessage, then the connection closes.
extension HTTPFrontEnd {
    static let calls = "exec, sh, action, app-logs, distro-install"

    /// The session the WebSocket was opened with, marked as used now (a call or a
    /// channel's work is a use of it); nil when it has ended since.
    func webSocketSession(_ slot: Int) -> Session? {
        guard let index = core.sessions.sessions.index(ofSerial: connections[slot].socket.sessionSerial) else { return nil }
        return used(index).session
    }

    /// The user of the session the WebSocket was opened with; nil (and the call ends
    /// saying so) when it has ended since.
    func sessionAccount(_ slot: Int) -> UserAccount? {
        guard let session = webSocketSession(slot) else {
            finishCall(slot, success: false, message: "the session has ended (logged out)")
            return nil
        }
        return session.user.account
    }

    func call(_ slot: Int, _ name: [UInt8], _ params: JSONValue) {
        guard let account = sessionAccount(slot) else { return }
        guard case .array(let values) = params else {
            return finishCall(slot, success: false, message: "params: must be an array of strings", closeCode: 1008)
        }
        var words: [[UInt8]] = []
        for (number, value) in values.enumerated() {
            guard case .string(let word) = value, !word.contains(0) else {
                return finishCall(slot, success: false, message: "params: item " + String(number + 1) + " must be a string without NUL",
                                  closeCode: 1008)
            }
            words.append(word)
        }
        let argv: [[UInt8]]
        switch name {
        case Array("exec".utf8):
            guard let program = words.first, !program.isEmpty else {
                return finishCall(slot, success: false, message: "exec: params are the argv, the program first", closeCode: 1008)
            }
            argv = words
        case Array("sh".utf8):
            guard words.count == 1 else {
                return finishCall(slot, success: false, message: "sh: params are one command line", closeCode: 1008)
            }
            argv = [Array(account.shell.utf8), Array("-c".utf8), words[0]]
        case Array("action".utf8):
            return startAction(slot, words)
        case Array("app-logs".utf8):
            guard words.isEmpty else { return finishCall(slot, success: false, message: "app-logs: takes no params", closeCode: 1008) }
            return startAppLogs(slot, since: 0)
        case Array("distro-install".utf8):
            #if DBG_NO_DISTRO
            return finishCall(slot, success: false, message: "distro-install: this dbgd was built without the distro service (DBG_DISTRO=OFF)")
            #else
            return startInstall(slot, words)
            #endif
        default:
            return finishCall(slot, success: false, message: "unknown call '" + String(decoding: name, as: UTF8.self)
                + "' (this agent has " + HTTPFrontEnd.calls + ")", closeCode: 1008)
        }
        let home = Array(account.home.utf8)
        if let problem = DbgService.directoryProblem(home, as: account) {
            return finishCall(slot, success: false, message: problem.message)
        }
        let spec = LaunchSpec(argv: argv, environment: UserEnvironment.variables(for: account),
                              searchPath: UserEnvironment.searchPath(for: account), cwd: home,
                              identity: UserEnvironment.identity(for: account))
        let stream: Int
        do throws(ProcessHost.StartError) {
            stream = try core.processes.startStream(spec, terminal: nil, timeoutSeconds: 0, ownerSerial: connections[slot].socket.sessionSerial,
                                                    reply: ReplyAddress(connection: ref(slot), request: .connectionLevel))
        } catch {
            return finishCall(slot, success: false, message: error.serviceError(program: argv[0], throughShell: name == Array("sh".utf8)).message)
        }
        Log.info("'\(account.name)' from \(connections[slot].peer.description) runs \(String(decoding: name, as: UTF8.self)) "
            + "over WebSocket (process \(core.processes.streams[stream].id))")
        connections[slot].socket.stage = .running(stream: stream)
        core.processes.updateInterest(ofStream: stream, outputRoom: hasOutputRoom(slot))
    }

    /// SignalMessage cancel: SIGTERM to the process group, SIGKILL after the grace time;
    /// the result says "cancelled" once it is reaped.
    func cancel(_ slot: Int) {
        connections[slot].socket.cancelled = true
        switch connections[slot].socket.stage {
        case .app(.logs, _): return finishCall(slot, success: true)  // following ends only so
        case .app(.action, _): return finishCall(slot, success: false, message: "cancelled")
        #if !DBG_NO_DISTRO
        case .installing: return distro.cancelInstall(of: ref(slot))
        #endif
        default: break
        }
        guard case .running(let stream) = connections[slot].socket.stage else { return }
        let now = MonotonicClock.now()
        core.processes.streams[stream].end(with: CSYS_SIGTERM, now: now)
        core.timer.schedule(now + StreamingProcess.killGraceMs)
    }

    /// End of input: stdin closes once what waits is written.
    func endInput(_ slot: Int) {
        guard case .running(let stream) = connections[slot].socket.stage, !connections[slot].socket.inputClosed else { return }
        connections[slot].socket.inputClosed = true
        guard core.processes.streams[stream].state == .running else { return }
        core.processes.streams[stream].inputClosed = true
        core.processes.streams[stream].inputEnding = true
        core.processes.streams[stream].flushInput()
        core.processes.updateInterest(ofStream: stream, outputRoom: hasOutputRoom(slot))
    }

    /// Room in the running process's input window; nil when input is dropped anyway
    /// (no call runs, or its input has ended).
    func inputRoom(_ slot: Int) -> Int? {
        guard case .running(let stream) = connections[slot].socket.stage, !connections[slot].socket.inputClosed,
              core.processes.streams[stream].state == .running else { return nil }
        core.processes.streams[stream].window.settle()
        return core.processes.streams[stream].window.room
    }

    /// Input for stdin; false when the window has no room for it.
    func deliverInput(_ slot: Int, _ bytes: [UInt8]) -> Bool {
        if let room = inputRoom(slot), room < bytes.count {
            connections[slot].socket.waitingForRoom = true
            return false
        }
        bytes.withUnsafeBytes { feed(slot, $0) }
        return true
    }

    /// Bytes that fit in the window (the caller checked) to the process's stdin.
    func feed(_ slot: Int, _ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, inputRoom(slot) != nil, case .running(let stream) = connections[slot].socket.stage else { return }
        core.processes.streams[stream].input(bytes)
        core.processes.updateInterest(ofStream: stream, outputRoom: hasOutputRoom(slot))
    }

    // MARK: Ending

    /// A peer that broke the protocol: the ResultMessage says why, the close frame gives
    /// the code; the call's process group ends with the connection.
    func fail(_ slot: Int, _ code: UInt16, _ reason: String) {
        Log.debug("WebSocket from \(connections[slot].peer.description): \(reason) (close \(code))")
        finishCall(slot, success: false, message: reason, closeCode: code)
    }

    /// The ResultMessage and a close frame; the connection closes once they are out (a
    /// process still running is hung up with it).
    func finishCall(_ slot: Int, success: Bool, message: String = "", closeCode: UInt16 = 1000) {
        guard !connections[slot].socket.closeSent else { return }
        if case .running(let stream) = connections[slot].socket.stage, core.processes.streams[stream].state != .free {
            core.processes.hangUp(stream: stream, detach: true)
        }
        sendResult(slot, success: success, message: message)
        sendClose(slot, code: closeCode)
        connections[slot].closeAfterFlush = true
        connections[slot].closeReason = success ? "call finished" : "call failed: " + message
    }

    /// Exactly once per connection (seed 003); a channel connection has none.
    func sendResult(_ slot: Int, success: Bool, message: String) {
        guard connections[slot].socket.stage != .finished, connections[slot].socket.channels == nil else { return }
        connections[slot].socket.stage = .finished
        var members = [JSONMember("success", .bool(success))]
        if !success { members.append(JSONMember("message", .string(message))) }
        connections[slot].sendFrame(.binary, JSONWriter.encode(.object(members)))
    }

    func sendClose(_ slot: Int, code: UInt16) {
        guard !connections[slot].socket.closeSent else { return }
        connections[slot].socket.closeSent = true
        connections[slot].sendFrame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)])
    }

    // MARK: Output

    /// Whether output may be read: room for a whole piece besides the result.
    func hasOutputRoom(_ slot: Int) -> Bool {
        connections[slot].transmitRoom >= HTTPConnection.resultRoom + HTTPConnection.maxOutputPiece + 16
    }

    /// The call's pipes: input written as stdin takes it, output read into lines.
    func processReady(_ slot: Int, stream: Int) {
        #if !DBG_NO_CHANNELS
        if connections[slot].socket.channels != nil { return channelProcessReady(slot, stream: stream) }
        #endif
        guard case .running(let mine) = connections[slot].socket.stage, mine == stream else { return }
        core.processes.streams[stream].flushInput()
        connections[slot].socket.waitingForRoom = false
        relayOutput(slot, stream)
        core.processes.updateInterest(ofStream: stream, outputRoom: hasOutputRoom(slot))
    }

    /// After the transmit buffer drained: lines waiting go out, the pipes are watched
    /// again, and an exit that waited for room is told.
    func outputMoved(_ slot: Int) {
        #if !DBG_NO_CHANNELS
        if connections[slot].socket.channels != nil { return channelOutputMoved(slot) }
        #endif
        if !connections[slot].socket.queued.isEmpty { queuedMoved(slot) }
        guard case .running(let stream) = connections[slot].socket.stage else { return }
        if let completion = core.completions.first(of: ref(slot)), case .processExit(let index) = completion.work {
            if finishExit(slot, stream: index) { core.completions.remove(completion) }
            return
        }
        _ = connections[slot].sendLines(0) && connections[slot].sendLines(1)
        core.processes.updateInterest(ofStream: stream, outputRoom: hasOutputRoom(slot))
    }

    /// stdout and stderr into lines while there is room; true when both pipes were read
    /// empty (or have ended).
    @discardableResult
    private func relayOutput(_ slot: Int, _ stream: Int) -> Bool {
        var drained = true
        for pipe in [StreamingProcess.Stream.stdout, .stderr] {
            let line = pipe.rawValue - 1
            reading: while let fd = core.processes.streams[stream].descriptor(pipe) {
                guard connections[slot].sendLines(line), hasOutputRoom(slot), connections[slot].lines[line].reserveWritable(1) else {
                    drained = false
                    break reading
                }
                do throws(Errno) {
                    let count = try fd.read(into: connections[slot].lines[line].writable)
                    if count == 0 {
                        core.processes.closeStream(stream, pipe)
                        break reading
                    }
                    connections[slot].lines[line].didWrite(count)
                } catch {
                    if error == .wouldBlock || error == .interrupted { break reading }
                    core.processes.closeStream(stream, pipe)
                    break reading
                }
            }
            if !connections[slot].sendLines(line) { drained = false }
        }
        return drained
    }

    /// The call's process was reaped: the rest of its output, its last lines, then the
    /// ResultMessage. False while output waits for room (the exit stays posted).
    func finishExit(_ slot: Int, stream: Int) -> Bool {
        #if !DBG_NO_CHANNELS
        if connections[slot].socket.channels != nil { return channelExit(slot, stream: stream) }
        #endif
        guard case .exited(let status) = core.processes.streams[stream].state else { return true }
        guard case .running(let mine) = connections[slot].socket.stage, mine == stream else {
            core.processes.releaseStream(stream)
            return true
        }
        guard relayOutput(slot, stream), connections[slot].sendLastLines(),
              connections[slot].transmitRoom >= HTTPConnection.resultRoom else { return false }
        core.processes.releaseStream(stream)
        let signal = csys_term_signal(status)
        let code = csys_exit_code(status)
        if connections[slot].socket.cancelled {
            finishCall(slot, success: false, message: "cancelled")
        } else if signal != 0 {
            finishCall(slot, success: false, message: "killed by signal " + String(signal))
        } else {
            finishCall(slot, success: code == 0, message: "exit status " + String(code))
        }
        return true
    }
}
