import CSys
import DbgWire

/// One client connection: its socket, its slot of the buffer pool (receive, then
/// transmit) and where it is in its life. Lives in a fixed slot of `ConnectionTable`.
struct Connection {
    enum State: Equatable {
        case free
        case open
        /// Send what is queued (an error frame, usually), then linger.
        case closingAfterFlush
        /// Writes are shut down; unread input is drained until the peer closes or the
        /// linger deadline passes, so the peer reads our last frame instead of a reset.
        case lingering
    }

    var state = State.free
    /// This connection's index in the table (fixed for the slot's life).
    let slot: Int
    var fd = FileDescriptor(-1)
    /// Bumped each time the slot is reused; stale events and replies carry the old value.
    var generation: UInt32 = 0
    var peer = SocketAddress()
    /// On a Unix socket: the peer process's user and group (SO_PEERCRED), which the
    /// distro service takes as the caller's identity.
    var localPeer: (uid: UInt32, gid: UInt32)?
    var receive: ByteBuffer
    var transmit: ByteBuffer
    var acceptedAt: Milliseconds = 0
    /// When the last complete frame arrived; nil until the first one (the handshake).
    var lastFrameAt: Milliseconds?
    /// The peer shut down its sending side; frames already received are still answered.
    var inputClosed = false
    /// Deadline of a closing connection (flush, then linger); it is closed when it passes.
    var lingerUntil: Milliseconds = 0
    /// What epoll currently watches for, so interest changes only cost a syscall when needed.
    var registered = Interest()
    /// The largest payload this peer accepts (Hello); the agent's own limit until then.
    var peerMaxPayload: UInt32 = 0
    /// Why the connection is closing, logged when it finally closes.
    var closeReason = ""

    /// Failed authentications so far; the third ends the connection.
    var authFailures = 0
    /// A session was created on this connection (a password was right).
    var loggedIn = false
    /// Zero-copy output: a pipe file data is spliced into, and from it to the socket.
    /// `spliceRemaining` bytes in it go out after the next `spliceAfter` bytes of
    /// `transmit` (the frame's header) and before the rest (its tail, later frames).
    var splicePipe: (read: FileDescriptor, write: FileDescriptor)?
    var spliceRemaining = 0
    var spliceAfter = 0
    /// The next frame waits for something other than the transmit buffer (keystrokes
    /// for a shell whose PTY is full): the socket is not read meanwhile.
    var framesBlocked = false

    init(slot: Int, receive: ByteBuffer, transmit: ByteBuffer) {
        self.slot = slot
        self.receive = receive
        self.transmit = transmit
    }

    var isActive: Bool { state != .free }

    /// A network peer that has not logged in: it gets a short idle limit, a per-address
    /// cap, and its slot is the first taken back when the table is full. Unix sockets
    /// (mode 0600) and serial lines are reached only by those the board lets in already.
    var isUnauthenticatedNetworkPeer: Bool {
        !loggedIn && (peer.family == CSYS_AF_INET || peer.family == CSYS_AF_INET6)
    }

    // MARK: Socket I/O

    enum ReceiveOutcome {
        case received(Int)
        case wouldBlock
        case endOfStream
        case failed(Errno)
    }

    /// Reads what the socket has into the free part of the receive buffer.
    mutating func receiveAvailable() -> ReceiveOutcome {
        let space = receive.writable
        guard space.count > 0 else { return .wouldBlock }
        do throws(Errno) {
            let count = try fd.read(into: space)
            if count == 0 { return .endOfStream }
            receive.didWrite(count)
            return .received(count)
        } catch {
            return error == .wouldBlock ? .wouldBlock : .failed(error)
        }
    }

    /// Discards input while lingering; true once the peer has closed or failed.
    mutating func drainInput() -> Bool {
        receive.clear()
        switch receiveAvailable() {
        case .received, .wouldBlock:
            receive.clear()
            return false
        case .endOfStream, .failed:
            return true
        }
    }

    /// Output queued but not yet sent: the transmit buffer and spliced file data.
    var pendingOutput: Int { transmit.readableCount + spliceRemaining }

    /// Writes queued output until the socket is full. Throws when the peer is gone.
    mutating func flush() throws(Errno) {
        while spliceRemaining > 0 {
            if spliceAfter > 0 {
                do throws(Errno) {
                    let sent = try fd.write(UnsafeRawBufferPointer(rebasing: transmit.readable[0..<spliceAfter]))
                    transmit.didRead(sent)
                    spliceAfter -= sent
                    continue
                } catch {
                    if error == .wouldBlock { return }
                    throw error
                }
            }
            let moved = csys_splice(splicePipe!.read.rawValue, nil, fd.rawValue, spliceRemaining, 1)
            if moved < 0 {
                if Errno.current == .wouldBlock { return }
                throw .current
            }
            spliceRemaining -= moved
        }
        while !transmit.isEmpty {
            do throws(Errno) {
                transmit.didRead(try fd.write(transmit.readable))
            } catch {
                if error == .wouldBlock { return }
                throw error
            }
        }
    }

    // MARK: Frames out

    /// Queues the response to `request`; nothing for a one-way request (id 0).
    mutating func respond<M: WireCodable>(to request: FrameHeader, with message: M) {
        guard request.id != 0 else { return }
        let header = FrameHeader(kind: .response, service: request.service, op: request.op, id: request.id)
        switch queue(header, message) {
        case .success: return
        case .failure(let error):
            fail(request, .tooLarge, "response does not fit in the frame limit: \(error.message)")
        }
    }

    /// Queues an error frame answering `request` (also for one-way requests, with id 0).
    mutating func fail(_ request: FrameHeader, _ code: ErrorCode, errno: Int32 = 0, _ message: String) {
        let header = FrameHeader(kind: .error, service: request.service, op: request.op, id: request.id)
        if case .failure = queue(header, ErrorPayload(code: code, errno: errno, message: WireBytes(message))) {
            // Only possible if the dispatch room rule was broken: end the connection loudly.
            state = .closingAfterFlush
            closeReason = "no room to queue an error frame"
        }
    }

    /// Queues an event frame (id 0).
    mutating func emit<M: WireCodable>(service: UInt32, op: UInt16, _ message: M) -> Bool {
        if case .failure = queue(FrameHeader(kind: .event, service: service, op: op, id: 0), message) { return false }
        return true
    }

    enum RelayOutcome {
        /// This many bytes went into an event.
        case relayed(Int)
        /// Nothing to read now.
        case nothingNew
        /// The source reports the end (0 bytes, EIO from a PTY whose slave is closed).
        case ended
        /// No room in the transmit buffer.
        case noRoom
    }

    /// Reads from `source` straight into a ShellOutput-shaped event frame in the transmit
    /// buffer ({SessionID u32, Data []byte}): no copy in between.
    mutating func relayOutput(from source: FileDescriptor, sessionID: UInt32, service: UInt32, op: UInt16,
                              limit: Int) -> RelayOutcome {
        let prefix = FrameHeader.size + 8
        let maxData = min(limit, Int(peerMaxPayload) - 8)
        guard maxData > 0, transmit.reserveWritable(prefix + 1) else { return .noRoom }
        let space = transmit.writable
        let room = min(maxData, space.count - prefix)
        let got: Int
        do throws(Errno) {
            got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: space[prefix..<(prefix + room)]))
        } catch {
            return error == .wouldBlock ? .nothingNew : .ended
        }
        if got == 0 { return .ended }
        var writer = WireWriter(UnsafeMutableRawBufferPointer(rebasing: space[0..<prefix]))
        do throws(WireError) {
            try FrameHeader(kind: .event, service: service, op: op, id: 0, length: UInt32(8 + got)).encode(to: &writer)
            try writer.integer(sessionID)
            try writer.integer(UInt32(got))
        } catch {
            return .noRoom  // cannot happen: the prefix was reserved
        }
        transmit.didWrite(prefix + got)
        return .relayed(got)
    }

    private mutating func queue<M: WireCodable>(_ header: FrameHeader, _ message: M) -> Result<Void, WireError> {
        do throws(WireError) {
            let size = try header.encodeFrame(message, into: transmit.writable, maxPayload: peerMaxPayload)
            transmit.didWrite(size)
            return .success(())
        } catch {
            return .failure(error)
        }
    }
}
