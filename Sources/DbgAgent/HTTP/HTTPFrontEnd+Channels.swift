import DbgWire

/// The channel protocol (seed 004) at /wsv2/TOKEN: each binary message is one protobuf
/// `api.Command`. On connect the agent sends `containerState {READY}` on channel 0, the
/// control channel, which takes openChan, closeChan and ping. Every answer carries the
/// request's channel, session and ref. A message that is not a Command, or a body that
/// is not served where it came, is answered with an `error` body and the connection goes
/// on; only WebSocket-level faults close it.
extension HTTPFrontEnd {
    /// An answer's largest size: the request's ref (at most a whole message) and a message.
    static var channelReplyBytes: Int { HTTPConnection.messageBytes + 1024 }

    /// Room in the transmit buffer for the answer to the next message.
    func hasChannelReplyRoom(_ slot: Int) -> Bool {
        let bytes = HTTPFrontEnd.channelReplyBytes
        return connections[slot].transmitRoom >= bytes + WebSocketFrame.serverHeadLength(UInt64(bytes))
    }

    func channelsOpened(_ slot: Int) {
        var ready = API.Command()
        ready.body = .containerState(API.ContainerState(state: .ready))
        sendCommand(slot, ready)
    }

    /// One binary message (valid during the call).
    func channelMessage(_ slot: Int, _ payload: UnsafeRawBufferPointer) {
        let command: API.Command
        do throws(ProtobufError) {
            command = try API.Command.decode(payload: payload)
        } catch {
            return reply(slot, to: API.Command(), .error(WireBytes("a binary message that is not an api.Command: " + error.message)))
        }
        guard let body = command.body else {
            return reply(slot, to: command, .error("a Command without a body"))
        }
        if case .ping = body { return reply(slot, to: command, .pong(API.Pong())) }
        if case .unimplemented(let field) = body {
            let name = API.Command.bodyName(ofField: field)?.text ?? "?"
            return reply(slot, to: command, .error(WireBytes("the body " + name + " (field " + String(field) + ") is not implemented by this agent")))
        }
        guard command.channel == 0 else {
            return reply(slot, to: command, .error(WireBytes("channel " + String(command.channel) + " is not open")))
        }
        switch body {
        case .openChan(let open):
            openChannel(slot, command, open)
        case .closeChan(let close):
            reply(slot, to: command, .error(WireBytes("channel " + String(close.id) + " is not open")))
        default:
            reply(slot, to: command, .error("channel 0 takes openChan, closeChan and ping"))
        }
    }

    private func openChannel(_ slot: Int, _ command: API.Command, _ open: API.OpenChannel) {
        var answer = API.OpenChannelRes(id: open.id, state: .error)
        let known = open.service.withUnsafeBytes { ChannelTable.service(named: $0) }
        let shown = open.service.withUnsafeBytes { String(decoding: $0.prefix(64), as: UTF8.self) }
        if let known {
            answer.error = WireBytes("the " + known.text + " service is not served by this agent yet: it serves the control channel only")
        } else {
            answer.error = WireBytes("unknown service '" + shown + "' (the seed's are exec, shell, files and proxy)")
        }
        reply(slot, to: command, .openChanRes(answer))
    }

    /// An answer on the request's channel, with its session and ref.
    private func reply(_ slot: Int, to request: API.Command, _ body: API.Command.Body) {
        var answer = API.Command(channel: request.channel, session: request.session, ref: request.ref)
        answer.body = body
        sendCommand(slot, answer)
    }

    /// One Command as one binary message. The caller made sure there is room
    /// (`hasChannelReplyRoom`); a Command that does not fit is a bug, said in the log.
    func sendCommand(_ slot: Int, _ command: API.Command) {
        var buffer = [UInt8](repeating: 0, count: HTTPFrontEnd.channelReplyBytes)
        let written = buffer.withUnsafeMutableBytes { raw in Result { () throws(ProtobufError) in try command.encode(into: raw) } }
        switch written {
        case .success(let count):
            if !buffer.withUnsafeBytes({ connections[slot].sendFrame(.binary, fin: true, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }) {
                Log.info("channels: an answer of " + String(count) + " bytes found no room")
            }
        case .failure(let error):
            Log.info("channels: an answer could not be written: " + error.message)
        }
    }
}
