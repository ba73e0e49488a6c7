import CSys
import DbgWire

/// Connection life cycles: accept, receive and answer frames, back-pressure, closing.
extension SutraFrontEnd {
    func acceptConnections(from listenerIndex: Int) {
        let listener = listeners[listenerIndex]
        // Bounded, so a connection storm cannot starve the connections already open.
        for _ in 0..<EventLoop.batchSize {
            let accepted: (FileDescriptor, SocketAddress)?
            do throws(Errno) {
                accepted = try listener.accept()
            } catch {
                if error == .tooManyOpenFiles || error == .tooManyOpenFilesInSystem {
                    turnAwayUsingReserve(listener)
                } else {
                    Log.info("accept on \(listener.address.description) failed: \(error.message)")
                }
                return
            }
            guard let (fd, peer) = accepted else { return }
            if let refusal = unauthenticatedLimit(peer) {
                turnAway(fd, peer, refusal)
                continue
            }
            do throws(AdoptFailure) {
                let index = try adoptEvicting(fd, peer: peer)
                if (tls != nil || config.requireTLS) && connections[index].isNetworkPeer { connections[index].tls = .undecided }
                Log.debug("connection \(index) from \(peer.description)")
            } catch {
                switch error {
                case .tableFull: turnAway(fd, peer, "connection table full (\(connections.capacity) connections)")
                case .epoll(let reason): Log.info("cannot watch connection from \(peer.description): \(reason.message)")
                }
            }
        }
    }

    /// Adopts a new connection; when the table is full, the oldest connection that has
    /// not logged in, of the address that holds most of them, makes room.
    private func adoptEvicting(_ fd: FileDescriptor, peer: SocketAddress) throws(AdoptFailure) -> Int {
        do throws(AdoptFailure) {
            return try adopt(fd, peer: peer)
        } catch {
            guard case .tableFull = error, let oldest = oldestUnauthenticated() else { throw error }
            evict(oldest)
            return try adopt(fd, peer: peer)
        }
    }

    /// Why a new network connection from `peer` is refused: its address already holds
    /// `--max-unauth-per-address` connections that have not logged in.
    private func unauthenticatedLimit(_ peer: SocketAddress) -> String? {
        guard peer.family == CSYS_AF_INET || peer.family == CSYS_AF_INET6 else { return nil }
        let key = PeerKey(peer)
        var holding = 0
        for index in 0..<connections.capacity
        where connections[index].state == .open && connections[index].isUnauthenticatedNetworkPeer
            && PeerKey(connections[index].peer) == key {
            holding += 1
        }
        guard holding >= config.maxUnauthPerAddress else { return nil }
        return "\(holding) connections from \(peer.hostDescription) have not logged in yet (--max-unauth-per-address)"
    }

    /// The connection to evict for a new one when the table is full: see EvictionChoice.
    private func oldestUnauthenticated() -> Int? {
        var choice = EvictionChoice()
        for index in 0..<connections.capacity where connections[index].isActive && connections[index].isUnauthenticatedNetworkPeer {
            choice.add(peer: PeerKey(connections[index].peer), arrival: connections[index].arrival, slot: index)
        }
        return choice.choose()
    }

    /// Makes room for a new connection: the evicted one is told why, as far as its socket
    /// takes it at once, and closed.
    private func evict(_ index: Int) {
        let reason = "the agent is full; connections that have not logged in make room for new ones"
        refusalLog.note("closing connection from \(connections[index].peer.description): \(reason)")
        if connections[index].state == .open { connections[index].fail(FrameHeader.connectionLevel, .busy, reason) }
        try? connections[index].flush()
        close(index, reason: reason)
    }

    func connectionReady(_ token: EventToken, _ readiness: Readiness) {
        let index = Int(token.index)
        // An event for a slot closed (and maybe reused) earlier in this batch is stale.
        guard index < connections.capacity, connections[index].isActive, token == self.token(for: index) else { return }
        if readiness.readable {
            receive(index)
            guard connections[index].isActive else { return }
        }
        pump(index)
    }

    /// Reads what arrived; frames are handled by `pump`.
    private func receive(_ index: Int) {
        switch connections[index].state {
        case .lingering:
            if connections[index].drainInput() { close(index, reason: connections[index].closeReason) }
            return
        case .closingAfterFlush, .free:
            return
        case .open:
            break
        }
        if connections[index].tls == .undecided && !decideTLS(index) { return }
        if connections[index].tls == .handshaking { return receiveTLSPreamble(index) }
        switch connections[index].receiveAvailable() {
        case .received, .wouldBlock:
            break
        case .endOfStream:
            connections[index].inputClosed = true
        case .failed(let error) where error == Errno(CSYS_EIO) && connections[index].tls == .kernel:
            connections[index].inputClosed = true  // a TLS alert (close_notify) ends the kernel's stream
        case .failed(let error):
            close(index, reason: "read failed: \(error.message)")
        }
    }

    /// Moves a connection as far as it can go without blocking: answers complete frames
    /// while the transmit buffer has room, flushes, and repeats once output drains.
    func pump(_ index: Int) {
        connections[index].framesBlocked = false  // re-decided by processFrames
        while true {
            deliverCompletions(index)
            let progress = connections[index].state == .open && connections[index].tls != .handshaking
                ? processFrames(index) : .needInput
            do throws(Errno) {
                try connections[index].flush()
            } catch {
                close(index, reason: "write failed: \(error.message)")
                return
            }
            let canResume = progress == .paused && connections[index].hasOutputRoom
                && connections[index].spliceRemaining == 0
            if !canResume && !receiveHeldTLSInput(index) { break }
        }
        advanceClosing(index)
        guard connections[index].isActive else { return }
        let queued = connections[index].pendingOutput
        #if !DBG_NO_SHELLS
        shells.outputMoved(connections[index])
        #endif
        #if !DBG_NO_STREAMS
        streams.outputMoved(&connections[index])
        #endif
        #if !DBG_NO_FORWARD
        forwards.outputMoved(&connections[index])
        #endif
        // What they queued (credits, a forwarded socket's bytes) goes out now, not with
        // the connection's next event; the room it took may be back.
        if connections[index].pendingOutput > queued {
            do throws(Errno) {
                try connections[index].flush()
            } catch {
                close(index, reason: "write failed: \(error.message)")
                return
            }
            #if !DBG_NO_FORWARD
            forwards.watch(&connections[index])
            #endif
        }
        updateInterest(index)
    }

    /// Queues the answers to this connection's finished work, oldest first, while there
    /// is room (the rest stays posted, in order).
    private func deliverCompletions(_ index: Int) {
        let connection = connections[index].ref
        while connections[index].state == .open, let completion = core.completions.first(of: connection) {
            var closing: String?
            guard router.deliver(completion.work, &connections[index], closing: &closing) else { return }
            core.completions.remove(completion)
            if let reason = closing {
                Log.info("closing connection from \(connections[index].peer.description): \(reason)")
                beginClosing(index, reason: reason)
            }
        }
    }

    private enum FrameProgress {
        /// No complete frame left.
        case needInput
        /// Output is backed up; the rest waits until the transmit buffer drains.
        case paused
        /// The next request waits for something else (a shell's PTY to take input).
        case blocked
        /// The connection is ending.
        case closing
    }

    private func processFrames(_ index: Int) -> FrameProgress {
        var handled = false
        defer {
            if handled {
                connections[index].lastFrameAt = MonotonicClock.now()
                // The idle deadline may be earlier than anything the timer is armed for.
                if let deadline = deadline(of: connections[index]) { timer.schedule(deadline) }
            }
            connections[index].receive.compact()
        }
        let frameRoom = FrameHeader.size + Int(config.maxFrame)
        while connections[index].state == .open {
            // Dispatch only when any response fits: handlers never find the buffer full.
            guard connections[index].hasOutputRoom,
                  connections[index].transmit.reserveWritable(frameRoom)
            else { return .paused }
            switch connections[index].receive.nextFrame(maxPayload: config.maxFrame) {
            case .incomplete:
                return .needInput
            case .request(let request):
                switch router.readiness(of: request, on: connections[index]) {
                case .now:
                    break
                case .afterOutput:
                    return .paused
                case .blocked:
                    connections[index].framesBlocked = true
                    return .blocked
                }
                router.route(request, on: &connections[index])
                connections[index].receive.didRead(FrameHeader.size + request.payload.count)
                handled = true
            case .violation(let header, let violation):
                rejectFrame(index, header, violation)
                return .closing
            case .unexpectedKind(let header):
                let reason = "unexpected frame kind \(header.kindByte) (clients send requests, kind 1)"
                Log.info("closing connection from \(connections[index].peer.description): \(reason)")
                connections[index].fail(header, .badRequest, reason)
                beginClosing(index, reason: reason)
                return .closing
            }
        }
        return .closing
    }

    /// A header that breaks the framing rules ends the connection; where the header can
    /// still be trusted, the peer first gets an error frame saying why.
    private func rejectFrame(_ index: Int, _ header: FrameHeader, _ violation: FrameViolation) {
        let reason = violation.message
        Log.info("closing connection from \(connections[index].peer.description): \(reason)")
        switch violation {
        case .badMagic:
            close(index, reason: reason)
        case .tooLarge:
            connections[index].fail(header, .tooLarge, reason)
            beginClosing(index, reason: reason)
        case .unknownKind, .nonzeroFlags, .nonzeroReserved:
            connections[index].fail(header, .badRequest, reason)
            beginClosing(index, reason: reason)
        }
    }

    /// Stops taking requests; queued output is still sent before the connection closes.
    func beginClosing(_ index: Int, reason: String) {
        connections[index].state = .closingAfterFlush
        connections[index].closeReason = reason
        connections[index].lingerUntil = MonotonicClock.now() + AgentConfig.lingerMs
        timer.schedule(connections[index].lingerUntil)
    }

    /// Closing steps that wait for output to drain.
    private func advanceClosing(_ index: Int) {
        guard connections[index].isActive, connections[index].pendingOutput == 0 else { return }
        switch connections[index].state {
        case .closingAfterFlush:
            // Send FIN (after TLS's close_notify) but keep reading, so unread input does
            // not turn our close into a reset.
            if connections[index].sendCloseNotify() { return }
            _ = CSys.shutdown(connections[index].fd.rawValue, CSYS_SHUT_WR)
            connections[index].state = .lingering
        case .open where connections[index].inputClosed:
            let leftover = connections[index].receive.readableCount
            close(index, reason: leftover == 0 ? "peer closed the connection"
                : "peer closed the connection in the middle of a frame (\(leftover) bytes discarded)")
        default:
            break
        }
    }

    private func updateInterest(_ index: Int) {
        let wanted = connections[index].wantedInterest
        guard wanted != connections[index].registered else { return }
        do throws(Errno) {
            try loop.modify(connections[index].fd, wanted, token(for: index))
            connections[index].registered = wanted
        } catch {
            close(index, reason: "epoll_ctl failed: \(error.message)")
        }
    }

    /// Moves a connection that has answers ready, unless it has closed meanwhile.
    func pumpIfOpen(_ connection: ConnectionRef) {
        if let slot = openSlot(of: connection) { pump(slot) }
    }

    /// The slot of a connection that is still open (not closed and its slot reused).
    func openSlot(of connection: ConnectionRef) -> Int? {
        guard connection.frontEnd == connections.frontEnd, connection.slot >= 0, connection.slot < connections.capacity, connections[connection.slot].isActive,
              connections[connection.slot].generation == connection.generation else { return nil }
        return connection.slot
    }

    func close(_ index: Int, reason: String) {
        Log.debug("connection \(index) from \(connections[index].peer.description) closed: \(reason)")
        core.connectionClosed(connections[index].ref)
        loop.remove(connections[index].fd)
        tlsClosed(index)
        connections.release(index)
    }

    func token(for index: Int) -> EventToken {
        EventToken(kinds.connection, index: UInt32(index), generation: connections[index].generation)
    }

    // MARK: Deadlines

    /// Connections and serial lines whose time is up; arms the timer for the next.
    func expire(now: Milliseconds) {
        var next: Milliseconds = 0
        for index in 0..<connections.capacity where connections[index].isActive {
            guard let deadline = deadline(of: connections[index]) else { continue }
            if deadline <= now {
                expire(index)
            } else if next == 0 || deadline < next {
                next = deadline
            }
        }
        if next != 0 { timer.schedule(next) }
        #if !DBG_NO_SERIAL
        expireSerialLines(now: now)
        #endif
    }

    private func deadline(of connection: borrowing Connection) -> Milliseconds? {
        switch connection.state {
        case .free: return nil
        case .closingAfterFlush, .lingering: return connection.lingerUntil
        case .open:
            guard let lastFrame = connection.lastFrameAt else { return connection.acceptedAt + config.handshakeTimeoutMs }
            return idleLimit(of: connection).map { lastFrame + $0.ms }
        }
    }

    /// The idle limit that applies to an open connection, and how to say it: the
    /// shorter of --idle-timeout and, for a network peer that has not logged in,
    /// --login-idle-timeout. Nil when neither applies.
    private func idleLimit(of connection: borrowing Connection) -> (ms: Milliseconds, why: String)? {
        let idle = config.idleTimeoutMs > 0 ? config.idleTimeoutMs : Milliseconds.max
        let login = connection.isUnauthenticatedNetworkPeer && config.loginIdleTimeoutMs > 0 ? config.loginIdleTimeoutMs : .max
        if login < idle { return (login, "idle for \(login / 1000) s without logging in") }
        return idle < .max ? (idle, "idle for \(idle / 1000) s") : nil
    }

    private func expire(_ index: Int) {
        guard connections[index].state == .open else {
            close(index, reason: connections[index].closeReason + " (linger time over)")
            return
        }
        let reason = connections[index].lastFrameAt == nil
            ? "no complete frame within \(config.handshakeTimeoutMs / 1000) s of connecting"
            : idleLimit(of: connections[index])?.why ?? "idle"
        Log.debug("closing connection from \(connections[index].peer.description): \(reason)")
        connections[index].fail(FrameHeader.connectionLevel, .timeout, reason)
        beginClosing(index, reason: reason)
        pump(index)
    }

    // MARK: Turning connections away

    /// Tells a connection that cannot be served why (an error frame, id 0), then closes it.
    func turnAway(_ fd: FileDescriptor, _ peer: SocketAddress, _ reason: String) {
        refusalLog.note("refusing connection from \(peer.description): \(reason)")
        let header = FrameHeader(kind: .error, service: ServiceID.control, op: 0, id: 0)
        let payload = ErrorPayload(code: .busy, message: WireBytes(reason))
        if let size = try? header.encodeFrame(payload, into: scratch) {
            _ = try? fd.write(UnsafeRawBufferPointer(rebasing: scratch[0..<size]))
        }
        // Read what the peer already sent, so closing does not reset the connection
        // before it reads the error. Bounded: a peer that keeps sending gets the reset.
        for _ in 0..<8 {
            guard let count = try? fd.read(into: scratch), count > 0 else { break }
        }
        _ = CSys.shutdown(fd.rawValue, CSYS_SHUT_WR)
        fd.close()
    }

    private func turnAwayUsingReserve(_ listener: Listener) {
        guard let reserve = reserveFD else {
            Log.info("out of file descriptors and no reserve left; connections wait in the backlog")
            return
        }
        reserve.close()
        reserveFD = nil
        if let (fd, peer) = try? listener.accept() {
            turnAway(fd, peer, "the agent is out of file descriptors")
        }
        reserveFD = try? FileDescriptor.open("/dev/null", writable: false)
    }
}
