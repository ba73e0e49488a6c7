import DbgPlatform
import DbgWire

/// StreamConnect, StreamListen, StreamUnlisten, StreamSend, StreamAck and StreamClose:
/// port forwarding through the core's forwarder, each stream and listener usable only by
/// the session that opened it. The bytes and the stream's news go out through the
/// forward relay.
extension DbgService {
    func handleForward(_ op: Dbg.Op, _ request: Request, _ connection: inout Connection) {
        switch op {
        case .streamConnect: serve(Dbg.StreamConnectRequest.self, request, &connection, connectStream)
        case .streamListen: serve(Dbg.StreamListenRequest.self, request, &connection, listenStream)
        case .streamUnlisten: serve(Dbg.ListenerRef.self, request, &connection, unlistenStream)
        case .streamSend: serve(Dbg.StreamSendRequest.self, request, &connection, sendStream)
        case .streamAck: serve(Dbg.StreamAckRequest.self, request, &connection, ackStream)
        default: serve(Dbg.StreamCloseRequest.self, request, &connection, closeStream)
        }
    }

    func connectStream(_ open: Dbg.StreamConnectRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try forwardingSession(open.token, connection)
        let address = try DbgService.forwardAddress(open.address, anyPort: false)
        let window = try DbgService.clientWindow(open.window)
        let index: Int
        do throws(Forwarder.OpenError) {
            index = try forwarder.connect(address, as: UserEnvironment.identity(for: session.user.account), clientWindow: window,
                                          ownerSerial: session.serial, reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw DbgService.openError(error, address)
        }
        Log.info("forward: user " + session.user.account.name + ": stream " + String(forwarder.streams[index].id) + " to "
            + address.description)
        forwards.streamReady(index, &connection)  // a Unix socket is connected at once
    }

    func listenStream(_ listen: Dbg.StreamListenRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try forwardingSession(listen.token, connection)
        let address = try DbgService.forwardAddress(listen.address, anyPort: true)
        guard case .tcp = address else {
            throw ServiceError(.unsupported, "Address: the board listens on TCP only (tcp:[HOST:]PORT), not on Unix sockets")
        }
        guard !address.isPrivileged || session.user.account.uid == 0 else {
            throw ServiceError(.denied, "Address: " + address.description + ": ports below 1024 are root's to listen on")
        }
        let window = try DbgService.clientWindow(listen.window)
        let index: Int
        do throws(Forwarder.OpenError) {
            index = try forwarder.listen(address, clientWindow: window, ownerSerial: session.serial,
                                         reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw DbgService.openError(error, address)
        }
        Log.info("forward: user " + session.user.account.name + ": listener " + String(forwarder.listeners[index].id) + " on "
            + forwarder.listeners[index].address)
        connection.respond(to: request, with: Dbg.StreamListening(listenerID: forwarder.listeners[index].id,
                                                                  address: WireBytes(forwarder.listeners[index].address)))
    }

    func unlistenStream(_ ref: Dbg.ListenerRef, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try forwardingSession(ref.token, connection)
        guard let index = forwarder.listenerIndex(of: ref.listenerID) else {
            throw ServiceError(.notFound, "no listener with ListenerID " + String(ref.listenerID))
        }
        guard forwarder.listeners[index].ownerSerial == session.serial else {
            throw ServiceError(.denied, "listener " + String(ref.listenerID) + " belongs to another session")
        }
        forwarder.closeListener(index)
        connection.respond(to: request, with: Empty())
    }

    func sendStream(_ send: Dbg.StreamSendRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedStream(send.token, send.streamID, request, connection) else { return }
        guard !forwarder.streams[index].writeEnding else {
            throw ServiceError(.badRequest, "StreamSend: stream " + String(send.streamID) + " had its StreamClose")
        }
        guard send.data.count <= forwarder.streams[index].window.room else {
            throw ServiceError(.badRequest, "StreamSend: " + String(send.data.count) + " bytes with "
                + String(forwarder.streams[index].window.inFlight) + " in flight exceed the window of "
                + String(ForwardedStream.window) + " (wait for StreamCredit)")
        }
        send.data.withUnsafeBytes { forwarder.streams[index].send($0) }
        forwards.streamReady(index, &connection)
        connection.respond(to: request, with: Empty())
    }

    func ackStream(_ ack: Dbg.StreamAckRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedStream(ack.token, ack.streamID, request, connection) else { return }
        let credit = forwarder.streams[index].sendCredit + Int(ack.bytes)
        guard credit <= forwarder.streams[index].clientWindow else {
            throw ServiceError(.badRequest, "StreamAck: " + String(ack.bytes) + " bytes more than were sent")
        }
        forwarder.streams[index].sendCredit = credit
        forwards.streamReady(index, &connection)
        connection.respond(to: request, with: Empty())
    }

    func closeStream(_ close: Dbg.StreamCloseRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedStream(close.token, close.streamID, request, connection) else { return }
        if close.abort {
            forwarder.release(index, reset: true)
        } else {
            forwarder.streams[index].writeEnding = true
            forwarder.streams[index].shutIfDone()
            forwards.streamReady(index, &connection)
        }
        connection.respond(to: request, with: Empty())
    }

    // MARK: Checks

    private func forwardingSession(_ token: WireBytes, _ connection: borrowing Connection) throws(ServiceError) -> Session {
        let session = try session(for: token, on: connection)
        guard forwarder.enabled else {
            throw ServiceError(.denied, "forwarding is switched off on this board (dbgd --no-forwarding)")
        }
        return session
    }

    /// The stream `id` if the request's session opened it; nil for a one-way request to a
    /// stream that has ended since (it crossed the StreamClosed).
    private func ownedStream(_ token: WireBytes, _ id: UInt32, _ request: FrameHeader,
                             _ connection: borrowing Connection) throws(ServiceError) -> Int? {
        let session = try session(for: token, on: connection)
        guard let index = forwarder.streams.index(of: id), forwarder.streams[index].announced,
              forwarder.streams[index].reply.connection == connection.ref else {
            if request.id == 0 { return nil }
            throw ServiceError(.notFound, "no stream with StreamID " + String(id))
        }
        guard forwarder.streams[index].ownerSerial == session.serial else {
            throw ServiceError(.denied, "stream " + String(id) + " belongs to another session")
        }
        return index
    }

    private static func forwardAddress(_ text: WireBytes, anyPort: Bool) throws(ServiceError) -> ForwardAddress {
        do throws(ForwardAddress.Invalid) {
            return try ForwardAddress.parse(text.bytes, anyPort: anyPort)
        } catch {
            throw ServiceError(.badRequest, "Address: " + error.message)
        }
    }

    private static func clientWindow(_ window: UInt32) throws(ServiceError) -> Int {
        guard ForwardedStream.clientWindows.contains(Int(window)) else {
            throw ServiceError(.badRequest, "Window: must be from 4096 to 16777216 bytes, not " + String(window))
        }
        return Int(window)
    }

    private static func openError(_ error: Forwarder.OpenError, _ address: ForwardAddress) -> ServiceError {
        switch error {
        case .noSlot:
            return ServiceError(.busy, "all forwarded streams or listeners are in use (dbgd --max-forwards)")
        case .failed(let errno):
            if case .unix(let path) = address { return ServiceError(errno, path: path) }
            return ServiceError(.io, errno: errno.code, address.description + ": " + errno.message)
        }
    }
}
