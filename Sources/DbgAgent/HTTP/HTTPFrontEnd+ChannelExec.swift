import CSys
import DbgWire

/// The `exec` service of the channel protocol: `exec {args, env}` runs argv as the
/// session's user (no shell) as a streaming process of the process host; `state Running`
/// answers it, stdout and stderr go out as `output` in the order read, `input` goes to
/// stdin, and at the end come `state Stopped` and `ok` (exit status 0) or `error` ("exit
/// status N", "killed by signal N"), both with the exec's ref. One exec at a time per
/// channel; closing the channel hangs the process up.
extension HTTPFrontEnd {
    /// A message for an exec channel; false when its input waits for room.
    func execMessage(_ slot: Int, _ index: Int, _ command: API.Command, _ body: API.Command.Body) -> Bool {
        switch body {
        case .exec(let exec):
            startExec(slot, index, command, exec)
        case .input(let text):
            return execInput(slot, index, command, text)
        default:
            reply(slot, to: command, .error("an exec channel takes exec, input and ping"))
        }
        return true
    }

    private func startExec(_ slot: Int, _ index: Int, _ command: API.Command, _ exec: API.Exec) {
        guard let channels = connections[slot].socket.channels, channels[index].stream == nil else {
            return reply(slot, to: command, .error("a process already runs on this channel"))
        }
        guard let program = exec.args.first, !program.isEmpty, !exec.args.contains(where: { $0.containsNUL }) else {
            return reply(slot, to: command, .error("exec: args is the argv, the program first, without NUL bytes"))
        }
        guard let account = webSocketSession(slot)?.user.account else {
            return reply(slot, to: command, .error("the session has ended (logged out)"))
        }
        var environment = UserEnvironment.variables(for: account)
        for entry in exec.env {
            let key = entry.key.bytes
            guard !key.contains(UInt8(ascii: "=")), !entry.key.containsNUL, !entry.value.containsNUL,
                  UserEnvironment.set(key + [UInt8(ascii: "=")] + entry.value.bytes, in: &environment) else {
                return reply(slot, to: command, .error("exec: env names need no '=' and no NUL, values no NUL"))
            }
        }
        let home = Array(account.home.utf8)
        if let problem = DbgService.directoryProblem(home, as: account) { return reply(slot, to: command, .error(WireBytes(problem.message))) }
        let argv = exec.args.map { $0.bytes }
        let spec = LaunchSpec(argv: argv, environment: environment, searchPath: UserEnvironment.searchPath(for: account),
                              cwd: home, identity: UserEnvironment.identity(for: account))
        let stream: Int
        do throws(ProcessHost.StartError) {
            stream = try core.processes.startStream(spec, terminal: nil, timeoutSeconds: 0, ownerSerial: connections[slot].socket.sessionSerial,
                                                    reply: ReplyAddress(connection: ref(slot), request: .connectionLevel))
        } catch {
            return reply(slot, to: command, .error(WireBytes(error.serviceError(program: argv[0], throughShell: false).message)))
        }
        Log.info("'\(account.name)' from \(connections[slot].peer.description) runs \(Log.printable(WireBytes(argv[0]))) "
            + "on channel \(command.channel) (process \(core.processes.streams[stream].id))")
        connections[slot].socket.channels?[index].stream = stream
        connections[slot].socket.channels?[index].session = command.session
        connections[slot].socket.channels?[index].ref = command.ref.bytes
        reply(slot, to: command, .state(.running))
        core.processes.updateInterest(ofStream: stream, outputRoom: hasChannelReplyRoom(slot))
    }

    /// `input` to stdin, whole: when the process's input window has no room for it, the
    /// message waits (and the connection is not read) until it has.
    private func execInput(_ slot: Int, _ index: Int, _ command: API.Command, _ text: WireBytes) -> Bool {
        guard let stream = connections[slot].socket.channels?[index].stream, core.processes.streams[stream].state == .running else {
            reply(slot, to: command, .error("no process runs on this channel"))
            return true
        }
        guard inputFits(slot, text.count, &core.processes.streams[stream].window) else { return false }
        text.withUnsafeBytes { core.processes.streams[stream].input($0) }
        core.processes.updateInterest(ofStream: stream, outputRoom: hasChannelReplyRoom(slot))
        return true
    }

    // MARK: Output and exit

    /// A channel's process has output, or room for input.
    func channelProcessReady(_ slot: Int, stream: Int) {
        core.processes.streams[stream].flushInput()
        connections[slot].socket.waitingForRoom = false
        guard let index = connections[slot].socket.channels?.index(ofStream: stream) else { return }
        serveExecOutput(slot, index, stream)
    }

    /// The channel's pipes read while there is room, and watched for what the room allows.
    func serveExecOutput(_ slot: Int, _ index: Int, _ stream: Int) {
        relayChannelOutput(slot, index, stream)
        core.processes.updateInterest(ofStream: stream, outputRoom: hasChannelReplyRoom(slot))
    }

    /// stdout and stderr as `output` while there is room; true when both were read empty
    /// (or have ended).
    @discardableResult
    private func relayChannelOutput(_ slot: Int, _ index: Int, _ stream: Int) -> Bool {
        var drained = true
        for pipe in [StreamingProcess.Stream.stdout, .stderr] {
            while let fd = core.processes.streams[stream].descriptor(pipe) {
                guard hasChannelReplyRoom(slot) else {
                    drained = false
                    break
                }
                guard var channel = connections[slot].socket.channels?[index] else { return true }
                let text: UnsafeRawBufferPointer?
                do throws(Errno) {
                    text = try outputText.read(from: fd, carry: &channel.carry[pipe.rawValue - 1])
                } catch {
                    if error == .wouldBlock || error == .interrupted { break }
                    text = nil
                }
                let ended = text == nil
                let output = text ?? outputText.finish(&channel.carry[pipe.rawValue - 1])
                connections[slot].socket.channels?[index] = channel
                if !output.isEmpty {
                    var command = API.Command(channel: channel.id, session: channel.session)
                    command.body = .output(WireBytes(viewing: output))
                    sendCommand(slot, command)
                }
                if ended {
                    core.processes.closeStream(stream, pipe)
                    break
                }
            }
        }
        return drained
    }

    /// A channel's process was reaped: the rest of its output, `state Stopped`, then its
    /// result. False while output waits for room (the exit stays posted).
    func channelExit(_ slot: Int, stream: Int) -> Bool {
        guard case .exited(let status) = core.processes.streams[stream].state else { return true }
        guard let index = connections[slot].socket.channels?.index(ofStream: stream) else {
            core.processes.releaseStream(stream)  // its channel was closed
            return true
        }
        guard relayChannelOutput(slot, index, stream), hasChannelReplyRoom(slot, answers: 2) else { return false }
        core.processes.releaseStream(stream)
        guard var channel = connections[slot].socket.channels?[index] else { return true }
        channel.stream = nil
        channel.carry = [[], []]
        connections[slot].socket.channels?[index] = channel
        var stopped = API.Command(channel: channel.id, session: channel.session, ref: WireBytes(channel.ref))
        stopped.body = .state(.stopped)
        sendCommand(slot, stopped)
        let signal = csys_term_signal(status)
        let code = csys_exit_code(status)
        stopped.body = signal != 0 ? .error(WireBytes("killed by signal " + String(signal)))
            : code == 0 ? .ok(API.OK()) : .error(WireBytes("exit status " + String(code)))
        sendCommand(slot, stopped)
        return true
    }
}
