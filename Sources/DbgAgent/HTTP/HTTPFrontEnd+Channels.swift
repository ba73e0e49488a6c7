import DbgWire

/// The channel protocol (seed 004) at /wsv2/TOKEN: each binary message is one protobuf
/// `api.Command`. On connect the agent sends `containerState {READY}` on channel 0, the
/// control channel, which takes openChan, closeChan and ping; the channels it opens carry
/// a service each (`+ChannelExec`). Every answer carries the request's channel, session
/// and ref. A message that is not a Command, or a body that is not served where it came,
/// is answered with an `error` body and the connection goes on; only WebSocket-level
/// faults close it.
extension HTTPFrontEnd {
    /// An answer's largest size: the request's ref (at most a whole message) and a message.
    static var channelReplyBytes: Int { HTTPConnection.messageBytes + 1024 }

    /// Room in the transmit buffer for the answer to the next message (or `answers`).
    /// Never while a file answer goes out: nothing may come between its bytes.
    func hasChannelReplyRoom(_ slot: Int, answers: Int = 1) -> Bool {
        guard connections[slot].socket.channels?.outgoingFile == nil else { return false }
        let bytes = HTTPFrontEnd.channelReplyBytes
        return connections[slot].transmitRoom >= answers * (bytes + WebSocketFrame.serverHeadLength(UInt64(bytes)))
    }

    func channelsOpened(_ slot: Int) {
        var ready = API.Command()
        ready.body = .containerState(API.ContainerState(state: .ready))
        sendCommand(slot, ready)
    }

    /// The session they were opened with has ended: channel connections close (1008),
    /// their shell channels disconnected first so that nothing more reaches them.
    func closeChannels(ofSession serial: UInt64) {
        for slot in 0..<connections.capacity where connections[slot].phase == .webSocket
            && connections[slot].socket.channels != nil && connections[slot].socket.sessionSerial == serial {
            detachShells(of: slot)
            // A file answer's frame cannot be cut short by a close frame.
            guard connections[slot].socket.channels?.outgoingFile == nil else {
                close(slot, reason: "the session has ended")
                continue
            }
            fail(slot, 1008, "the session has ended")
            pump(slot)
        }
    }

    /// After the transmit buffer drained: exits and file jobs that waited for room are
    /// told, the channels' pipes and sockets are read and watched again, and their shells'
    /// PTYs.
    func channelOutputMoved(_ slot: Int) {
        continueFileAnswer(slot)
        guard connections[slot].socket.channels?.outgoingFile == nil, connections[slot].isOpen else { return }
        waiting: while let completion = core.completions.first(of: ref(slot)) {
            switch completion.work {
            case .processExit(let stream): guard channelExit(slot, stream: stream) else { break waiting }
            case .fileJob(let index): guard channelFileJobDone(slot, job: index) else { break waiting }
            default: break waiting
            }
            core.completions.remove(completion)
        }
        for index in connections[slot].socket.channels?.channels.indices ?? 0..<0 {
            if let stream = connections[slot].socket.channels?[index].stream { serveExecOutput(slot, index, stream) }
            #if !DBG_NO_FORWARD
            if connections[slot].socket.channels?[index].proxy != nil { proxyReady(slot, index) }
            #endif
        }
        shellOutputMoved(slot)
    }

    /// One binary message (valid during the call). False when it waits for room in a
    /// process's input window: it is handed in again once there is some.
    func channelMessage(_ slot: Int, _ payload: UnsafeRawBufferPointer) -> Bool {
        if connections[slot].socket.channels?.incomingFile != nil { return finishIncomingFile(slot, rest: payload) }
        guard hasChannelReplyRoom(slot) else { return false }  // a message read while the room was taken
        let command: API.Command
        do throws(ProtobufError) {
            command = try API.Command.decode(payload: payload)
        } catch {
            reply(slot, to: API.Command(), .error(WireBytes("a binary message that is not an api.Command: " + error.message)))
            return true
        }
        guard let body = command.body else {
            reply(slot, to: command, .error("a Command without a body"))
            return true
        }
        if case .ping = body {
            reply(slot, to: command, .pong(API.Pong()))
            return true
        }
        if case .unimplemented(let field) = body {
            let name = API.Command.bodyName(ofField: field)?.text ?? "?"
            reply(slot, to: command, .error(WireBytes("the body " + name + " (field " + String(field) + ") is not implemented by this agent")))
            return true
        }
        guard command.channel != 0 else {
            controlMessage(slot, command, body)
            return true
        }
        guard let index = connections[slot].socket.channels?.index(of: command.channel) else {
            reply(slot, to: command, .error(WireBytes("channel " + String(command.channel) + " is not open")))
            return true
        }
        switch connections[slot].socket.channels?[index].service {
        case .files: return filesMessage(slot, command, body)
        case .shell: return shellMessage(slot, command, body)
        #if !DBG_NO_FORWARD
        case .proxy: return proxyMessage(slot, index, command, body)
        #endif
        default: return execMessage(slot, index, command, body)
        }
    }

    private func controlMessage(_ slot: Int, _ command: API.Command, _ body: API.Command.Body) {
        switch body {
        case .openChan(let open):
            openChannel(slot, command, open)
        case .closeChan(let close):
            closeChannel(slot, command, close)
        default:
            reply(slot, to: command, .error("channel 0 takes openChan, closeChan and ping"))
        }
    }

    private func openChannel(_ slot: Int, _ command: API.Command, _ open: API.OpenChannel) {
        var answer = API.OpenChannelRes(id: open.id, state: .error)
        guard let known = open.service.withUnsafeBytes({ ChannelTable.service(named: $0) }) else {
            let shown = open.service.withUnsafeBytes { String(decoding: $0.prefix(64), as: UTF8.self) }
            answer.error = WireBytes("unknown service '" + shown + "' (the seed's are exec, shell, files and proxy)")
            return reply(slot, to: command, .openChanRes(answer))
        }
        guard let service = known.served else {
            answer.error = WireBytes("the " + known.name.text + " service is not in this build of the agent (DBG_FORWARD=OFF)")
            return reply(slot, to: command, .openChanRes(answer))
        }
        if service == .shell { return openShellChannel(slot, command, open) }
        guard open.action == .create || open.action == .attachOrCreate else {
            answer.error = open.action == .attach ? "only a shell can be attached to: open this channel with CREATE"
                : WireBytes("openChan: action " + String(open.action.rawValue) + " is not CREATE, ATTACH or ATTACH_OR_CREATE")
            return reply(slot, to: command, .openChanRes(answer))
        }
        guard let id = connections[slot].socket.channels?.open(service) else {
            answer.error = WireBytes("all " + String(ChannelTable.capacity) + " channels of this connection are open")
            return reply(slot, to: command, .openChanRes(answer))
        }
        reply(slot, to: command, .openChanRes(API.OpenChannelRes(id: id, state: .created)))
    }

    /// Any action closes an exec or files channel, and hangs up a process still running
    /// on it; a shell channel's action says what becomes of its shell (`+ChannelShells`).
    private func closeChannel(_ slot: Int, _ command: API.Command, _ close: API.CloseChannel) {
        guard close.action == .disconnect || close.action == .tryClose || close.action == .close else {
            let action = String(close.action.rawValue)
            return reply(slot, to: command, .error(WireBytes("closeChan: action " + action + " is not DISCONNECT, TRY_CLOSE or CLOSE")))
        }
        guard let index = connections[slot].socket.channels?.index(of: close.id) else {
            return reply(slot, to: command, .error(WireBytes("channel " + String(close.id) + " is not open")))
        }
        var status = API.CloseChannelRes.Status.close
        if connections[slot].socket.channels?[index].service == .shell {
            status = closeShellChannel(slot, channel: close.id, close.action)
        } else if let stream = connections[slot].socket.channels?[index].stream {
            core.processes.hangUp(stream: stream, detach: true)
        }
        #if !DBG_NO_FORWARD
        endProxy(slot, index, reset: true)
        #endif
        if status != .nothing { connections[slot].socket.channels?.close(at: index) }
        reply(slot, to: command, .closeChanRes(API.CloseChannelRes(id: close.id, status: status)))
    }

    /// Whether `count` bytes of input fit `window` now (what was written no longer
    /// counts: a WebSocket gives no credits); when not, the message waits, and the
    /// connection is not read, until they do.
    func inputFits(_ slot: Int, _ count: Int, _ window: inout InputWindow) -> Bool {
        window.settle()
        guard window.room >= count else {
            connections[slot].socket.waitingForRoom = true
            return false
        }
        return true
    }

    /// An answer on the request's channel, with its session and ref.
    func reply(_ slot: Int, to request: API.Command, _ body: API.Command.Body) {
        var answer = API.Command(channel: request.channel, session: request.session, ref: request.ref)
        answer.body = body
        sendCommand(slot, answer)
    }

    /// One Command as one binary message, written straight into the transmit buffer.
    /// The caller made sure there is room (`hasChannelReplyRoom`); a Command that does
    /// not fit is a bug, said in the log.
    func sendCommand(_ slot: Int, _ command: API.Command) {
        guard connections[slot].socket.channels?.outgoingFile == nil else {
            return Log.info("channels: an answer while a file answer goes out (dropped)")
        }
        do throws(ProtobufError) {
            guard try writeBinaryFrame(slot, { (area) throws(ProtobufError) in try command.encode(into: area) }) else {
                return Log.info("channels: no room for an answer")
            }
        } catch {
            Log.info("channels: an answer could not be written: " + error.message)
        }
    }

    /// A binary frame whose payload starts with what `encode` writes (at most
    /// `channelReplyBytes`) and goes on with `following` bytes the caller adds after it
    /// (a streamed file's content). The payload is written behind room for the longest
    /// head it can need, and moved up when its head is shorter. False without room.
    func writeBinaryFrame(_ slot: Int, following: UInt64 = 0,
                          _ encode: (UnsafeMutableRawBufferPointer) throws(ProtobufError) -> Int) throws(ProtobufError) -> Bool {
        let longestHead = WebSocketFrame.serverHeadLength(UInt64(HTTPFrontEnd.channelReplyBytes) + following)
        guard connections[slot].transmit.reserveWritable(longestHead + HTTPFrontEnd.channelReplyBytes) else { return false }
        let area = connections[slot].transmit.writable
        let payloadArea = UnsafeMutableRawBufferPointer(rebasing: area[longestHead..<(longestHead + HTTPFrontEnd.channelReplyBytes)])
        let count = try encode(payloadArea)
        let length = UInt64(count) + following
        let head = WebSocketFrame.serverHeadLength(length)
        if head < longestHead { (area.baseAddress! + head).copyMemory(from: payloadArea.baseAddress!, byteCount: count) }
        _ = WebSocketFrame.writeServerHead(.binary, fin: true, length: length, into: area)
        connections[slot].transmit.didWrite(head + count)
        return true
    }
}
