import CSys
import DbgPlatform
import DbgWire

/// One client connection: its socket, its slot of the buffer pool (receive, then
/// transmit) and where it is in its life. Lives in a fixed slot of `ConnectionTable`.
struct Connection: ~Copyable {
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
    /// The Sutra front end's number in the service core (ConnectionRef).
    var frontEnd: UInt8 = 0
    /// The socket; nil while the slot is free.
    var socket: OwnedDescriptor?
    /// Bumped each time the slot is reused; stale events and replies carry the old value.
    var generation: UInt32 = 0
    var peer = SocketAddress()
    /// On a Unix socket: the peer process's user and group (SO_PEERCRED), which the
    /// distro service takes as the caller's identity.
    var localPeer: (uid: UInt32, gid: UInt32)?
    var receive: ByteBuffer
    var transmit: ByteBuffer
    var acceptedAt: Milliseconds = 0
    /// The order connections arrived in, finer than `acceptedAt` (a batch of accepts
    /// shares one reading of the loop's clock).
    var arrival: UInt64 = 0
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

    /// A session was created on this connection (a password was right).
    var loggedIn = false
    /// TLS on a network connection, which its first byte decides (`SutraFrontEnd+TLS`).
    var tls = TLSStage.none
    /// The key a TLS client proved it holds (its P-256 point), for key login.
    var clientKey: [UInt8]?
    #if !DBG_NO_TLS
    /// With BearSSL's records (`TLSStage.records`): the engine the relay lent.
    var records: TLSPump?
    #endif
    /// Zero-copy output: a pipe file data is spliced into, and from it to the socket.
    /// `spliceRemaining` bytes in it go out after the next `spliceAfter` bytes of
    /// `transmit` (the frame's header) and before the rest (its tail, later frames).
    var splicePipe: OwnedPipe?
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

    enum TLSStage: Equatable {
        /// Cleartext: a Unix socket, a serial line, or a network peer that did not start
        /// with a ClientHello.
        case none
        /// A network connection whose first byte has not arrived yet.
        case undecided
        /// The socket is the TLS relay's bridge; the handshake's outcome comes first.
        case handshaking
        /// The socket is the network's again; the connection makes and reads the records
        /// with the engine the relay lent it (`Connection+TLSRecords`).
        case records
        /// The socket is the network's again, its records the kernel's (kTLS).
        case kernel
    }

    var isActive: Bool { state != .free }

    /// The socket, for I/O and epoll: only a slot in use has one.
    var fd: FileDescriptor {
        switch socket {
        case .some(let owned): return owned.descriptor
        case .none: preconditionFailure("a free connection slot has no socket")
        }
    }

    /// What work started for this connection remembers it by.
    var ref: ConnectionRef { ConnectionRef(frontEnd: frontEnd, slot: slot, generation: generation) }

    /// A network peer that has not logged in: it gets a short idle limit, a per-address
    /// cap, and its slot is the first taken back when the table is full. Unix sockets
    /// (mode 0600) and serial lines are reached only by those the board lets in already.
    var isUnauthenticatedNetworkPeer: Bool { !loggedIn && isNetworkPeer }

    /// TCP, over IPv4 or IPv6.
    var isNetworkPeer: Bool { peer.family == CSYS_AF_INET || peer.family == CSYS_AF_INET6 }

    // MARK: Socket I/O

    enum ReceiveOutcome {
        case received(Int)
        case wouldBlock
        case endOfStream
        case failed(Errno)
    }

    /// Reads what the socket has into the free part of the receive buffer.
    mutating func receiveAvailable() -> ReceiveOutcome {
        #if !DBG_NO_TLS
        if let records { return receiveRecords(records, socketReads: Connection.recordReadsPerReceive) }
        #endif
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

    /// Output queued but not yet sent: the transmit buffer and spliced file data (and
    /// TLS records not yet written).
    var pendingOutput: Int {
        #if !DBG_NO_TLS
        if recordsPending { return transmit.readableCount + spliceRemaining + 1 }
        #endif
        return transmit.readableCount + spliceRemaining
    }

    /// Below the back-pressure mark: the connection may take more requests and more
    /// shell output.
    var hasOutputRoom: Bool { pendingOutput <= AgentConfig.transmitBatch }

    /// What epoll should watch for: input while the connection may take requests (or
    /// drains while lingering), output while some is queued.
    var wantedInterest: Interest {
        var wanted = Interest()
        switch state {
        case .open:
            if !inputClosed && !framesBlocked && hasOutputRoom { wanted.insert(.readable) }
        case .lingering:
            wanted.insert(.readable)
        case .closingAfterFlush, .free:
            break
        }
        if pendingOutput > 0 { wanted.insert(.writable) }
        return wanted
    }

    /// Closing with BearSSL's records: close_notify goes out before FIN. True while
    /// records wait to be sent.
    mutating func sendCloseNotify() -> Bool {
        #if !DBG_NO_TLS
        return sendRecordsCloseNotify()
        #else
        return false
        #endif
    }

    /// Writes queued output until the socket is full. Throws when the peer is gone.
    mutating func flush() throws(Errno) {
        #if !DBG_NO_TLS
        if let records { return try flushRecords(records) }
        #endif
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
            do throws(Errno) {
                guard let source = splicePipe?.read.descriptor else { preconditionFailure("spliced data without a pipe") }
                spliceRemaining -= try source.splice(to: fd, count: spliceRemaining, nonblocking: true)
            } catch {
                if error == .wouldBlock { return }
                throw error
            }
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
}
