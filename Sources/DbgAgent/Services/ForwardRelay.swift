import DbgWire

/// The Sutra side of forwarded streams: StreamConnect answered once the connect is done,
/// StreamAccepted for what a listener took, the socket's bytes as StreamReceived events
/// straight into the transmit buffer (within the client's window and while the
/// connection keeps up), StreamCredit as StreamSend's bytes are written, StreamEnded at
/// the peer's end of file, StreamClosed when the stream is gone.
struct ForwardRelay {
    /// Bytes per StreamReceived event.
    static let chunk = 128 << 10

    let forwarder: Forwarder

    /// Everything a stream may do now, after its socket was ready or it was accepted.
    func streamReady(_ index: Int, _ connection: inout Connection) { catchUp(index, &connection) }

    /// After a connection's output moved: what waited for room goes out (an announcement,
    /// credits, a stream's end, the sockets' bytes). The pump flushes what this queued and
    /// then calls `watch`, since the room this took may have come back.
    func outputMoved(_ connection: inout Connection) {
        for index in 0..<forwarder.streams.capacity
        where forwarder.streams[index].state == .open && forwarder.streams[index].reply.connection == connection.ref {
            catchUp(index, &connection)
        }
    }

    /// The connection's streams watched for what the room now allows.
    func watch(_ connection: inout Connection) {
        for index in 0..<forwarder.streams.capacity
        where forwarder.streams[index].state == .open && forwarder.streams[index].reply.connection == connection.ref {
            forwarder.updateInterest(ofStream: index, outputRoom: connection.hasOutputRoom)
        }
    }

    /// Whatever waits for room (the announcement, the end) leaves the socket unwatched
    /// until the output moves, so that a level-triggered end of file or a writable socket
    /// cannot spin the loop meanwhile.
    private func catchUp(_ index: Int, _ connection: inout Connection) {
        guard forwarder.streams[index].state == .open else { return }
        defer {
            if forwarder.streams[index].state != .free {
                forwarder.updateInterest(ofStream: index, outputRoom: connection.hasOutputRoom)
            }
        }
        if !forwarder.streams[index].announced {
            guard announce(index, &connection) else { return }
        }
        sendCredit(index, &connection)
        relayReceived(index, &connection)
        tellEnd(index, &connection)
        if forwarder.streams[index].isFinished { _ = finish(index, &connection) }
    }

    /// StreamConnect's answer (or its error, and the slot is freed), or StreamAccepted.
    /// False without room: it is tried again when the output moves.
    private func announce(_ index: Int, _ connection: inout Connection) -> Bool {
        guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
        let id = forwarder.streams[index].id
        if forwarder.streams[index].listenerID != 0 {
            guard connection.emit(service: ServiceID.dbg, op: Dbg.Event.streamAccepted.rawValue, Dbg.StreamAcceptedEvent(
                listenerID: forwarder.streams[index].listenerID, streamID: id, window: UInt32(ForwardedStream.window),
                peer: WireBytes(forwarder.streams[index].address))) else { return false }
        } else {
            let request = forwarder.streams[index].reply.request
            if let failure = forwarder.streams[index].failure {
                Log.info("forward: stream " + String(id) + " to " + forwarder.streams[index].address + " failed: " + failure.message)
                connection.fail(request, ServiceError(failure, path: Array(forwarder.streams[index].address.utf8)))
                forwarder.release(index)
                return false
            }
            connection.respond(to: request, with: Dbg.StreamOpened(streamID: id, window: UInt32(ForwardedStream.window)))
            Log.info("forward: stream " + String(id) + " to " + forwarder.streams[index].address + " opened")
        }
        forwarder.streams[index].announced = true
        return true
    }

    /// The socket's bytes into events while the client takes more and there is room.
    private func relayReceived(_ index: Int, _ connection: inout Connection) {
        let id = forwarder.streams[index].id
        while !forwarder.streams[index].readEnded, forwarder.streams[index].failure == nil,
              forwarder.streams[index].sendCredit > 0, connection.hasOutputRoom, let fd = forwarder.streams[index].descriptor {
            let limit = min(ForwardRelay.chunk, forwarder.streams[index].sendCredit)
            switch connection.relayOutput(from: fd, sessionID: id, service: ServiceID.dbg, op: Dbg.Event.streamReceived.rawValue,
                                          limit: limit) {
            case .relayed(let count):
                forwarder.streams[index].sendCredit -= count
                forwarder.streams[index].bytesFromSocket += UInt64(count)
                continue
            case .nothingNew, .noRoom:
                return
            case .ended:
                forwarder.streams[index].readEnded = true
            case .failed(let error):
                forwarder.streams[index].failure = error
                return
            }
        }
    }

    /// StreamEnded once the socket's end was read, when it fits.
    private func tellEnd(_ index: Int, _ connection: inout Connection) {
        guard forwarder.streams[index].readEnded, !forwarder.streams[index].endTold,
              connection.transmit.reserveWritable(Connection.answerRoom),
              connection.emit(service: ServiceID.dbg, op: Dbg.Event.streamEnded.rawValue,
                              Dbg.StreamRef(streamID: forwarder.streams[index].id)) else { return }
        forwarder.streams[index].endTold = true
    }

    /// StreamClosed, and the slot is freed. False without room.
    private func finish(_ index: Int, _ connection: inout Connection) -> Bool {
        guard connection.transmit.reserveWritable(2 * Connection.answerRoom) else { return false }
        let failure = forwarder.streams[index].failure
        _ = connection.emit(service: ServiceID.dbg, op: Dbg.Event.streamClosed.rawValue, Dbg.StreamClosedEvent(
            streamID: forwarder.streams[index].id, errno: failure?.code ?? 0,
            message: WireBytes(forwarder.streams[index].failureText ?? "")))
        forwarder.release(index, reset: failure != nil)
        return true
    }

    /// A StreamCredit when one is due and fits.
    func sendCredit(_ index: Int, _ connection: inout Connection) {
        guard forwarder.streams[index].window.creditDue > 0, connection.transmit.reserveWritable(Connection.answerRoom),
              let credit = forwarder.streams[index].window.takeCredit() else { return }
        _ = connection.emit(service: ServiceID.dbg, op: Dbg.Event.streamCredit.rawValue,
                            Dbg.StreamCreditEvent(streamID: forwarder.streams[index].id, bytes: UInt32(credit)))
    }
}
