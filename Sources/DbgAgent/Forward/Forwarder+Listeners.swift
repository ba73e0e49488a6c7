import CSys
import DbgPlatform

/// A socket the board listens on for a client (StreamListen, `dbg reverse`): each
/// connection it accepts becomes a stream of the same session and connection.
struct StreamListener {
    var socket: Listener?
    var id: UInt32 = 0
    var generation: UInt32 = 0
    var reply = ReplyAddress.none
    var ownerSerial: UInt64 = 0
    var clientWindow = 0
    var registered = false
    var address = ""

    var isOpen: Bool { socket != nil }
}

extension Forwarder {
    /// Listens on `address` (TCP) for the session; returns the slot.
    func listen(_ address: ForwardAddress, clientWindow: Int, ownerSerial: UInt64, reply: ReplyAddress) throws(OpenError) -> Int {
        guard case .tcp(_, _, let ipv6) = address, let target = address.socketAddress else { throw .failed(.invalidArgument) }
        guard let index = listeners.firstIndex(where: { !$0.isOpen }) else { throw .noSlot }
        let raw = socket(target.family, CSYS_SOCK_STREAM | CSYS_SOCK_NONBLOCK | CSYS_SOCK_CLOEXEC, 0)
        guard raw >= 0 else { throw .failed(.current) }
        let listener: Listener
        do throws(Errno) {
            listener = try Listener.listenTCP(FileDescriptor(raw), target, ipv6: ipv6)
        } catch {
            FileDescriptor(raw).close()
            throw .failed(error)
        }
        listeners[index].socket = listener
        listeners[index].id = nextListenerID()
        listeners[index].reply = reply
        listeners[index].ownerSerial = ownerSerial
        listeners[index].clientWindow = clientWindow
        listeners[index].address = "tcp:" + listener.address.description
        updateListenerInterest()
        return index
    }

    func listenerIndex(of id: UInt32) -> Int? { listeners.firstIndex { $0.isOpen && $0.id == id } }

    func closeListener(_ index: Int) {
        guard let socket = listeners[index].socket else { return }
        if listeners[index].registered { loop.remove(socket.fd) }
        socket.close()
        Log.info("forward: listener " + String(listeners[index].id) + " on " + listeners[index].address + " closed")
        listeners[index] = StreamListener(generation: listeners[index].generation &+ 1)
    }

    private func listenerToken(_ index: Int) -> EventToken {
        EventToken(listenerKind, index: UInt32(index), generation: listeners[index].generation)
    }

    /// Listeners accept while a stream slot is free (a connection beyond waits in the
    /// backlog).
    func updateListenerInterest() {
        let room = streams.freeSlot != nil
        for index in listeners.indices where listeners[index].isOpen && listeners[index].registered != room {
            guard let fd = listeners[index].socket?.fd else { continue }
            listeners[index].registered = loop.update(fd, from: listeners[index].registered ? .readable : nil,
                                                      to: room ? .readable : nil, listenerToken(index)) != nil
        }
    }

    func accept(_ token: EventToken) {
        let index = Int(token.index)
        guard index < listeners.count, listenerToken(index) == token, let socket = listeners[index].socket else { return }
        // Nothing pending, or an error accept(2) reports (EMFILE): the listener stays
        // watched, and tries again on its next event.
        while let slot = streams.freeSlot, let (fd, peer) = (try? socket.accept()) ?? nil {
            occupyAccepted(slot, OwnedDescriptor(fd.rawValue), listener: index, peer: "tcp:" + peer.description)
            Log.info("forward: listener " + String(listeners[index].id) + " accepted stream " + String(streams[slot].id)
                + " from " + streams[slot].address)
            ready?(slot, listeners[index].reply.connection)
        }
        updateListenerInterest()
    }
}
