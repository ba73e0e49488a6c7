import CSys
import DbgWire

/// One HTTP connection, and after an upgrade its WebSocket: the socket, its slot of the
/// buffer pool, and where it is in its life. Lives in a fixed slot of the HTTP front
/// end's table; every buffer is a slice of that slot, so serving never allocates per byte.
struct HTTPConnection: ~Copyable {
    enum Phase: Equatable {
        case free
        /// Reading requests (keep-alive); answered in order, one at a time.
        case requests
        /// A POST /api/v1/auth waits for its worker: nothing more is read meanwhile.
        case awaitingLogin
        /// Upgraded (`socket` says where the call is).
        case webSocket
        /// The last answer goes out, then the socket closes (`closeAt` at the latest).
        case closing
    }

    /// Bytes of each part of a slot. A request head is at most 8 KiB and a body at most
    /// `maxBody`; WebSocket frames are read piece by piece, so no frame has to fit.
    static let receiveBytes = 16 << 10
    static let transmitBytes = 64 << 10
    /// A binary (control) message is put together here: 1009 beyond.
    static let messageBytes = 16 << 10
    /// Each output stream's line being put together; a longer line goes out in pieces.
    static let lineBytes = 32 << 10
    static var slotBytes: Int { receiveBytes + transmitBytes + messageBytes + 2 * lineBytes }
    static let maxBody = 8 << 10

    var phase = Phase.free
    var fd: OwnedDescriptor?
    var generation: UInt32 = 0
    var peer = SocketAddress()
    var receive: ByteBuffer
    var transmit: ByteBuffer
    var message: ByteBuffer
    /// stdout's and stderr's lines (by `StreamingProcess.Stream` raw value - 1).
    var lines: [ByteBuffer]
    var registered: Interest?
    /// When the request now being read began (its first byte), or the last answer went.
    var lastActivity: Milliseconds = 0
    /// The request being read has some bytes (the head deadline runs).
    var headStarted = false
    /// The peer will send no more.
    var peerEnded = false
    /// Close once the transmit buffer is empty.
    var closeAfterFlush = false
    /// Whether the request awaiting its login keeps the connection.
    var answerKeepsAlive = true
    var closeAt: Milliseconds = 0
    /// How long the peer is given after the last answer (and after each time it took more).
    var lingerMs: Milliseconds = 0
    /// While closing: what the socket still had to send at the last look (the peer that
    /// keeps taking it keeps the connection).
    var unsent = Int.max
    var closeReason = ""
    var socket = WebSocketState()

    init(memory: UnsafeMutableRawBufferPointer) {
        var offset = 0
        func part(_ count: Int) -> ByteBuffer {
            defer { offset += count }
            return ByteBuffer(UnsafeMutableRawBufferPointer(rebasing: memory[offset..<(offset + count)]))
        }
        receive = part(HTTPConnection.receiveBytes)
        transmit = part(HTTPConnection.transmitBytes)
        message = part(HTTPConnection.messageBytes)
        lines = [part(HTTPConnection.lineBytes), part(HTTPConnection.lineBytes)]
    }

    var isOpen: Bool { phase != .free }

    mutating func open(_ descriptor: FileDescriptor, peer: SocketAddress, now: Milliseconds) {
        fd = OwnedDescriptor(descriptor.rawValue)
        self.peer = peer
        phase = .requests
        lastActivity = now
    }

    mutating func reset() {
        phase = .free
        fd = nil
        generation &+= 1
        receive.clear()
        transmit.clear()
        message.clear()
        lines[0].clear()
        lines[1].clear()
        registered = nil
        headStarted = false
        peerEnded = false
        closeAfterFlush = false
        unsent = Int.max
        closeReason = ""
        socket = WebSocketState()
    }

    enum Received { case some, ended, failed }

    /// Reads what fits in the receive buffer.
    mutating func read() -> Received {
        guard let socket = fd?.descriptor else { return .failed }
        guard receive.reserveWritable(1) else { return .some }
        do throws(Errno) {
            let got = try socket.read(into: receive.writable)
            if got == 0 { return .ended }
            receive.didWrite(got)
            return .some
        } catch {
            return error == .wouldBlock || error == .interrupted ? .some : .failed
        }
    }

    /// Writes what the socket takes; false when the peer is gone.
    mutating func flush() -> Bool {
        guard !transmit.isEmpty, let socket = fd?.descriptor else { return true }
        do throws(Errno) {
            let written = try socket.write(transmit.readable)
            transmit.didRead(written)
        } catch {
            return error == .wouldBlock || error == .interrupted
        }
        return true
    }

    /// Appends bytes to the transmit buffer; false when they do not fit.
    @discardableResult
    mutating func send(_ bytes: [UInt8]) -> Bool {
        guard transmit.reserveWritable(bytes.count) else { return false }
        bytes.withUnsafeBytes { transmit.writable.copyMemory(from: $0) }
        transmit.didWrite(bytes.count)
        return true
    }

    var transmitRoom: Int { transmit.capacity - transmit.readableCount }
}
