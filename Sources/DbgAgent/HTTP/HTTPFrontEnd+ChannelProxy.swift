#if !DBG_NO_FORWARD
import DbgPlatform
import DbgWire

/// The `proxy` service of the channel protocol: one socket per channel on the board,
/// through the core's forwarder (the streams of `dbg forward`: connected without waiting,
/// a Unix socket as the session's user, the same `--max-forwards` and
/// `--no-forwarding`). `connect {proto, addr}` is answered `ok` once connected, or
/// `error`; `send` bytes go to the socket, waiting whole for room in its 128 KiB window;
/// the socket's bytes come as `recv` while the connection has room; the socket's end or
/// failure is told by `disconnect {error}`. The client's `disconnect` closes the socket
/// once what it sent is written, answered by `disconnect {}` with its ref.
extension HTTPFrontEnd {
    /// Bytes of the socket per `recv`.
    static let proxyPiece = 8 << 10

    /// A message for a proxy channel; false when its bytes wait for room.
    func proxyMessage(_ slot: Int, _ index: Int, _ command: API.Command, _ body: API.Command.Body) -> Bool {
        switch body {
        case .connect(let connect):
            connectProxy(slot, index, command, connect)
        case .send(let send):
            return sendProxy(slot, index, command, send.buff)
        case .disconnect:
            guard let stream = openProxy(slot, index, command) else { return true }
            core.forwarder.streams[stream].writeEnding = true
            core.forwarder.streams[stream].shutIfDone()
            connections[slot].socket.channels?[index].session = command.session
            connections[slot].socket.channels?[index].ref = command.ref.bytes
            proxyReady(slot, index)
        default:
            reply(slot, to: command, .error("a proxy channel takes connect, send, disconnect and ping"))
        }
        return true
    }

    private func connectProxy(_ slot: Int, _ index: Int, _ command: API.Command, _ connect: API.Connect) {
        guard proxyStream(slot, index) == nil else {
            return reply(slot, to: command, .error("a socket is open on this channel: disconnect it, or open another channel"))
        }
        guard core.forwarder.enabled else {
            return reply(slot, to: command, .error("forwarding is switched off on this board (dbgd --no-forwarding)"))
        }
        guard let session = webSocketSession(slot) else { return reply(slot, to: command, .error("the session has ended (logged out)")) }
        let proto = connect.proto.isEmpty ? Array("tcp".utf8) : connect.proto.bytes
        guard proto.elementsEqual("tcp".utf8) || proto.elementsEqual("unix".utf8) else {
            let shown = String(decoding: proto.prefix(32), as: UTF8.self)
            return reply(slot, to: command, .error(WireBytes("connect: proto is tcp or unix, not '" + shown + "'")))
        }
        let address: ForwardAddress
        do throws(ForwardAddress.Invalid) {
            address = try ForwardAddress.parse(proto + [UInt8(ascii: ":")] + connect.addr.bytes)
        } catch {
            return reply(slot, to: command, .error(WireBytes("connect: " + error.message)))
        }
        let stream: Int
        do throws(Forwarder.OpenError) {
            stream = try core.forwarder.connect(address, as: UserEnvironment.identity(for: session.user.account), clientWindow: Int.max,
                                                ownerSerial: session.serial, reply: ReplyAddress(connection: ref(slot), request: .connectionLevel))
        } catch {
            switch error {
            case .noSlot: return reply(slot, to: command, .error("all forwarded streams are in use (dbgd --max-forwards)"))
            case .failed(let errno): return reply(slot, to: command, .error(WireBytes(address.description + ": " + errno.message)))
            }
        }
        Log.info("forward: user " + session.user.account.name + ": stream " + String(core.forwarder.streams[stream].id) + " to "
            + address.description + " (channel " + String(command.channel) + ")")
        connections[slot].socket.channels?[index].proxy = (stream, core.forwarder.streams[stream].id)
        connections[slot].socket.channels?[index].session = command.session
        connections[slot].socket.channels?[index].ref = command.ref.bytes
        proxyReady(slot, index)  // a Unix socket is connected at once
    }

    /// `send`: whole into the stream's window, or the message waits for room there.
    private func sendProxy(_ slot: Int, _ index: Int, _ command: API.Command, _ bytes: WireBytes) -> Bool {
        guard let stream = openProxy(slot, index, command) else { return true }
        guard !core.forwarder.streams[stream].writeEnding else {
            reply(slot, to: command, .error("send after disconnect"))
            return true
        }
        guard inputFits(slot, bytes.count, &core.forwarder.streams[stream].window) else { return false }
        bytes.withUnsafeBytes { core.forwarder.streams[stream].send($0) }
        proxyReady(slot, index)
        return true
    }

    /// The channel's stream, while it is the one the channel connected (nil, and the
    /// channel forgets it, once the forwarder has freed it).
    func proxyStream(_ slot: Int, _ index: Int) -> Int? {
        guard let proxy = connections[slot].socket.channels?[index].proxy else { return nil }
        guard core.forwarder.streams[proxy.slot].state != .free, core.forwarder.streams[proxy.slot].id == proxy.id else {
            connections[slot].socket.channels?[index].proxy = nil
            return nil
        }
        return proxy.slot
    }

    /// The channel's stream once connected; nil, answered with an error, otherwise.
    private func openProxy(_ slot: Int, _ index: Int, _ command: API.Command) -> Int? {
        guard let stream = proxyStream(slot, index), core.forwarder.streams[stream].announced else {
            reply(slot, to: command, .error("no socket is connected on this channel"))
            return nil
        }
        return stream
    }

    // MARK: The socket's side

    /// The forwarder's news of a channel's stream: connected, bytes, room, its end.
    func channelForwardReady(_ slot: Int, stream: Int) {
        guard let index = connections[slot].socket.channels?.index(ofProxy: stream) else { return }
        connections[slot].socket.waitingForRoom = false
        proxyReady(slot, index)
    }

    /// Everything the channel's stream may do now: tell the connect's outcome, relay the
    /// socket's bytes, tell its end, and watch it for what the room allows.
    func proxyReady(_ slot: Int, _ index: Int) {
        guard let stream = proxyStream(slot, index), let channel = connections[slot].socket.channels?[index] else { return }
        let forwarder = core.forwarder
        if !forwarder.streams[stream].announced {
            guard forwarder.streams[stream].state == .open, hasChannelReplyRoom(slot) else { return }
            var answer = API.Command(channel: channel.id, session: channel.session, ref: WireBytes(channel.ref))
            if let failure = forwarder.streams[stream].failureText {
                answer.body = .error(WireBytes(failure))
                sendCommand(slot, answer)
                return endProxy(slot, index, reset: false)
            }
            answer.body = .ok(API.OK())
            sendCommand(slot, answer)
            forwarder.streams[stream].announced = true
        }
        relaySocket(slot, channel, stream)
        let ended = forwarder.streams[stream].readEnded || forwarder.streams[stream].failure != nil
        let closed = forwarder.streams[stream].writeShut
        if ended || closed {
            guard hasChannelReplyRoom(slot) else { return forwarder.updateInterest(ofStream: stream, outputRoom: false) }
            // With the client's disconnect's ref when it asked.
            var told = API.Command(channel: channel.id, session: channel.session, ref: closed ? WireBytes(channel.ref) : .empty)
            told.body = .disconnect(API.Disconnect(error: WireBytes(forwarder.streams[stream].failureText ?? "")))
            sendCommand(slot, told)
            return endProxy(slot, index, reset: forwarder.streams[stream].failure != nil)
        }
        forwarder.updateInterest(ofStream: stream, outputRoom: hasChannelReplyRoom(slot) && !forwarder.streams[stream].writeEnding)
    }

    /// The socket's bytes as `recv` while there is room (none once the client said
    /// disconnect: the stream is ending).
    private func relaySocket(_ slot: Int, _ channel: ChannelTable.Channel, _ stream: Int) {
        let forwarder = core.forwarder
        while !forwarder.streams[stream].readEnded, !forwarder.streams[stream].writeEnding, forwarder.streams[stream].failure == nil,
              hasChannelReplyRoom(slot), let fd = forwarder.streams[stream].descriptor {
            connections[slot].lines[0].clear()
            let area = UnsafeMutableRawBufferPointer(rebasing: connections[slot].lines[0].writable.prefix(HTTPFrontEnd.proxyPiece))
            let count: Int
            do throws(Errno) {
                count = try fd.read(into: area)
            } catch {
                if error == .wouldBlock { return }
                if error != .interrupted { forwarder.streams[stream].failure = error }
                return
            }
            guard count > 0 else {
                forwarder.streams[stream].readEnded = true
                return
            }
            forwarder.streams[stream].bytesFromSocket += UInt64(count)
            var received = API.Command(channel: channel.id, session: channel.session)
            received.body = .recv(API.Recv(buff: WireBytes(viewing: UnsafeRawBufferPointer(rebasing: area.prefix(count)))))
            sendCommand(slot, received)
        }
    }

    /// The stream is released and the channel is free for another connect.
    func endProxy(_ slot: Int, _ index: Int, reset: Bool) {
        guard let stream = proxyStream(slot, index) else { return }
        core.forwarder.release(stream, reset: reset)
        connections[slot].socket.channels?[index].proxy = nil
    }
}
#endif
