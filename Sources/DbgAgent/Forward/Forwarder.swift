import CSys
import DbgPlatform

/// The fixed table of forwarded streams (`--max-forwards`), each with a pending-input
/// buffer of one window.
typealias ForwardTable = SlotTable<ForwardedStream>

extension SlotTable where Slot == ForwardedStream {
    init(capacity: Int) throws(Errno) {
        try self.init(capacity: capacity, bufferBytes: ForwardedStream.window) { _, memory in
            ForwardedStream(inputBuffer: memory)
        }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    func index(of id: UInt32) -> Int? { (0..<capacity).first { self[$0].state != .free && self[$0].id == id } }
}

/// Port forwarding's core: the streams (sockets connected or accepted on the board) and
/// the listeners, their sockets in the loop. Front ends relay the bytes and tell the
/// client (`FrontEnd.forwardReady`); the core connects, accepts, writes what clients
/// send, watches each socket only for what it may do now, and closes. A connect runs as
/// the session's user where the kernel checks it (a Unix socket's permissions).
final class Forwarder {
    let loop: EventLoop
    var streams: ForwardTable
    var listeners: [StreamListener]
    /// Switched off (--no-forwarding): every request is refused.
    let enabled: Bool
    /// A stream's socket is ready, or it was accepted: its front end relays.
    var ready: ((Int, ConnectionRef) -> Void)?
    private(set) var streamKind = EventToken.Kind.none
    private(set) var listenerKind = EventToken.Kind.none
    private var lastStreamID: UInt32 = 0
    private var lastListenerID: UInt32 = 0

    init(config: AgentConfig, loop: EventLoop) throws(Errno) {
        self.loop = loop
        enabled = config.forwarding
        streams = try ForwardTable(capacity: config.maxForwards)
        listeners = Array(repeating: StreamListener(), count: config.forwarding ? Forwarder.maxListeners : 0)
        streamKind = loop.register { token, readiness in self.streamEvent(token, readiness) }
        listenerKind = loop.register { token, _ in self.accept(token) }
    }

    /// Listeners at once, over every session.
    static let maxListeners = 16

    // MARK: Connect

    enum OpenError: Error {
        case noSlot
        case failed(Errno)
    }

    /// A new stream to `address`, connecting without waiting; `relay` answers the
    /// StreamConnect in `reply` once it is open or failed. Returns the slot.
    func connect(_ address: ForwardAddress, as identity: UserAccount?, clientWindow: Int, ownerSerial: UInt64,
                 reply: ReplyAddress) throws(OpenError) -> Int {
        guard let index = streams.freeSlot else { throw .noSlot }
        guard let target = address.socketAddress else { throw .failed(.invalidArgument) }
        let raw = socket(target.family, CSYS_SOCK_STREAM | CSYS_SOCK_NONBLOCK | CSYS_SOCK_CLOEXEC, 0)
        guard raw >= 0 else { throw .failed(.current) }
        let fd = OwnedDescriptor(raw)
        var failure: Errno?
        if case .unix = address {
            // The kernel checks the socket file's permissions against the thread's
            // filesystem identity: the user's, for the call.
            do throws(Errno) {
                failure = try UserFiles.run(as: identity) { () throws(Errno) -> Errno? in
                    target.withSockaddr { CSys.connect(fd.descriptor.rawValue, $0, $1) } == 0 ? nil : Errno.current
                }
            } catch {
                throw .failed(error)
            }
        } else {
            tuneTCP(fd.descriptor)
            failure = target.withSockaddr { CSys.connect(fd.descriptor.rawValue, $0, $1) } == 0 ? nil : Errno.current
        }
        let inProgress = failure?.code == CSYS_EINPROGRESS
        if let failure, !inProgress {
            // A Unix socket whose backlog is full says EAGAIN: as good as refused.
            throw .failed(failure == .wouldBlock ? Errno(CSYS_ECONNREFUSED) : failure)
        }
        occupy(index, fd, clientWindow: clientWindow, ownerSerial: ownerSerial, reply: reply, address: address.description)
        streams[index].state = inProgress ? .connecting : .open
        updateInterest(ofStream: index, outputRoom: false)
        return index
    }

    private func occupy(_ index: Int, _ fd: consuming OwnedDescriptor, clientWindow: Int, ownerSerial: UInt64,
                        reply: ReplyAddress, address: String) {
        lastStreamID = lastStreamID == UInt32.max ? 1 : lastStreamID + 1
        streams[index].id = lastStreamID
        streams[index].socket = .some(fd)
        streams[index].clientWindow = clientWindow
        streams[index].sendCredit = clientWindow
        streams[index].ownerSerial = ownerSerial
        streams[index].reply = reply
        streams[index].address = address
    }

    private func tuneTCP(_ fd: FileDescriptor) {
        var one: Int32 = 1
        _ = setsockopt(fd.rawValue, CSYS_IPPROTO_TCP, CSYS_TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    // MARK: Events

    func streamToken(_ index: Int) -> EventToken {
        EventToken(streamKind, index: UInt32(index), generation: streams[index].generation)
    }

    private func streamEvent(_ token: EventToken, _ readiness: Readiness) {
        let index = Int(token.index)
        guard index < streams.capacity, streams[index].state != .free, streamToken(index) == token,
              !streams[index].reply.isDetached else { return }
        if streams[index].state == .connecting {
            guard readiness.writable || readiness.readable, let fd = streams[index].descriptor else { return }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(fd.rawValue, CSYS_SOL_SOCKET, CSYS_SO_ERROR, &error, &length) != 0 { error = Errno.current.code }
            if error != 0 { streams[index].failure = Errno(error) }
            streams[index].state = .open
        } else if readiness.writable {
            streams[index].flush()
        }
        ready?(index, streams[index].reply.connection)
    }

    /// Reads the socket while the client takes more and its connection has room; writes
    /// while input waits; nothing before the client knows of the stream.
    func updateInterest(ofStream index: Int, outputRoom: Bool) {
        guard streams[index].state != .free, let fd = streams[index].descriptor else { return }
        var wanted: Interest = []
        switch streams[index].state {
        case .connecting:
            wanted = .writable
        case .open where streams[index].announced && streams[index].failure == nil:
            if !streams[index].readEnded && streams[index].sendCredit > 0 && outputRoom { wanted.insert(.readable) }
            if !streams[index].window.pending.isEmpty { wanted.insert(.writable) }
        default:
            break
        }
        streams[index].registered = loop.update(fd, from: streams[index].registered, to: wanted.isEmpty ? nil : wanted,
                                                streamToken(index))
    }

    // MARK: Ends

    /// The stream's socket closes and its slot is free; `reset` sends the peer a reset
    /// instead of an orderly end (an abort, a client gone).
    func release(_ index: Int, reset: Bool = false) {
        if let fd = streams[index].descriptor {
            if reset {
                var linger = (Int32(1), Int32(0))  // struct linger { l_onoff, l_linger }
                _ = setsockopt(fd.rawValue, CSYS_SOL_SOCKET, CSYS_SO_LINGER, &linger, socklen_t(8))
            }
            if streams[index].registered != nil { loop.remove(fd) }
        }
        if streams[index].announced {
            Log.info("forward: stream " + String(streams[index].id) + " (" + streams[index].address + ") closed: "
                + String(streams[index].bytesToSocket) + " bytes to it, " + String(streams[index].bytesFromSocket) + " from it"
                + (streams[index].failure.map { ", " + $0.message } ?? "") + (reset ? ", reset" : ""))
        }
        streams[index].reset()
        streams.releasePages(index)
        updateListenerInterest()
    }

    /// A connection closed: its streams are reset and its listeners closed.
    func connectionClosed(_ connection: ConnectionRef) {
        for index in 0..<streams.capacity where streams[index].state != .free && streams[index].reply.connection == connection {
            release(index, reset: true)
        }
        for index in listeners.indices where listeners[index].isOpen && listeners[index].reply.connection == connection {
            closeListener(index)
        }
    }

    /// A session ended (Logout): the same for what it opened.
    func sessionEnded(_ serial: UInt64) {
        for index in 0..<streams.capacity where streams[index].state != .free && streams[index].ownerSerial == serial {
            release(index, reset: true)
        }
        for index in listeners.indices where listeners[index].isOpen && listeners[index].ownerSerial == serial {
            closeListener(index)
        }
    }

    func shutdown() {
        for index in 0..<streams.capacity where streams[index].state != .free { release(index, reset: true) }
        for index in listeners.indices where listeners[index].isOpen { closeListener(index) }
    }

    // MARK: Listener ids

    func nextListenerID() -> UInt32 {
        lastListenerID = lastListenerID == UInt32.max ? 1 : lastListenerID + 1
        return lastListenerID
    }

    /// Accepted streams take their ids as connected ones do.
    func occupyAccepted(_ index: Int, _ fd: consuming OwnedDescriptor, listener: Int, peer: String) {
        occupy(index, fd, clientWindow: listeners[listener].clientWindow, ownerSerial: listeners[listener].ownerSerial,
               reply: listeners[listener].reply, address: peer)
        streams[index].listenerID = listeners[listener].id
        streams[index].state = .open
    }
}

extension ForwardAddress {
    /// Where to connect or bind (a Unix path as sent: it need not be UTF-8).
    var socketAddress: SocketAddress? {
        switch self {
        case .tcp(let host, let port, let ipv6): return ipv6 ? .ipv6(host, port: port) : .ipv4(host, port: port)
        case .unix(let path): return .unix(bytes: path)
        }
    }
}
