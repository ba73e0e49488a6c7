import CSys
import DbgWire

/// The HTTP + WebSocket API (seed 003, `--http`): REST routes under /api/v1/, the
/// WebSocket calls at /api/v1/ws/, and the web console at /. A front end of the service
/// core like the Sutra connections: logins go to the same session store and throttle,
/// calls run as streaming processes of the same process host. Each connection is a slot
/// of a fixed table (`HTTPConnection`); requests are answered one at a time, in order.
final class HTTPFrontEnd: FrontEnd {
    let config: AgentConfig
    let core: ServiceCore
    #if !DBG_NO_DISTRO
    /// distro-install's; set once at start-up.
    var distro: DistroService!
    #endif
    #if !DBG_NO_APP
    /// action's and app-logs'; nil when the runtime is off.
    var app: AppRuntime?
    #endif
    let listeners: [Listener]
    var connections: SlotTable<HTTPConnection>
    private(set) var number: UInt8 = 0
    private var listenerKind = EventToken.Kind.none
    private var connectionKind = EventToken.Kind.none
    /// What a logged-in GET /api/v1/systems adds, by name (the distro's and the app's state).
    var statusProviders: [(String, () -> JSONValue)] = []
    #if !DBG_NO_CHANNELS
    /// The channel protocol's shells and the channels attached to each.
    var sharedShells: SharedShellTable
    /// Where a channel's process or shell output becomes `output` text.
    let outputText = ChannelOutputText()
    #endif
    /// Turned-away connections come in floods; their log lines are summarised.
    private var refusalLog = RateLimitedLog(intervalMs: 1000)

    /// How long a kept-alive connection may sit between requests.
    static let keepAliveMs: Milliseconds = 30_000
    /// After the last answer of a closing connection: how long the peer has to read it.
    static let lingerMs: Milliseconds = 2_000
    /// Requests or frames handled per event at most, so that one connection cannot hold
    /// the loop; it is served again on its next turn.
    static let stepsPerTurn = 64

    init(config: AgentConfig, core: ServiceCore, listeners: [Listener]) throws(StartupError) {
        self.config = config
        self.core = core
        self.listeners = listeners
        do throws(Errno) {
            connections = try SlotTable(capacity: config.http.connections, bufferBytes: HTTPConnection.slotBytes) { _, memory in
                HTTPConnection(memory: memory)
            }
        } catch {
            throw StartupError("cannot set up the HTTP connections: \(error.message)")
        }
        #if !DBG_NO_CHANNELS
        sharedShells = SharedShellTable(capacity: config.maxShells)
        #endif
        number = core.register(self)
        #if !DBG_NO_CHANNELS
        // A channel connection may use any session (a Sutra login's too): it closes
        // when its session ends, wherever that happens.
        core.whenSessionEnds { serial in self.closeChannels(ofSession: serial) }
        #endif
        listenerKind = core.loop.register { token, _ in self.accept(from: Int(token.index)) }
        connectionKind = core.loop.register { token, readiness in self.ready(token, readiness) }
        do throws(Errno) {
            for (index, listener) in listeners.enumerated() {
                try core.loop.add(listener.fd, .readable, EventToken(listenerKind, index: UInt32(index)))
            }
        } catch {
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    var budgetBytes: Int {
        #if !DBG_NO_CHANNELS
        return connections.budgetBytes + outputText.budgetBytes
        #else
        return connections.budgetBytes
        #endif
    }

    /// The owner of the sessions made by POST /api/v1/auth: no connection (one past the
    /// table), so that a session outlives the request that made it, and tokens of Sutra
    /// connections are not taken here (each belongs to its connection).
    var sessionHolder: ConnectionRef { ConnectionRef(frontEnd: number, slot: connections.capacity, generation: 0) }

    func start() {
        for listener in listeners { Log.info("HTTP API and web console on http://\(listener.address.description)/") }
    }

    func shutdown() {
        for slot in 0..<connections.capacity where connections[slot].isOpen { close(slot, reason: "agent shutting down") }
        for listener in listeners { listener.close() }
    }

    func ref(_ slot: Int) -> ConnectionRef {
        ConnectionRef(frontEnd: number, slot: slot, generation: connections[slot].generation)
    }

    // MARK: Accepting

    private func accept(from index: Int) {
        guard index < listeners.count else { return }
        for _ in 0..<EventLoop.batchSize {
            let accepted: (FileDescriptor, SocketAddress)?
            do throws(Errno) {
                accepted = try listeners[index].accept()
            } catch {
                refusalLog.note("HTTP accept failed: " + error.message)
                return
            }
            guard let (fd, peer) = accepted else { return }
            guard let slot = (0..<connections.capacity).first(where: { !connections[$0].isOpen }) else {
                refusalLog.note("refusing HTTP connection from \(peer.description): all \(connections.capacity) are in use")
                let answer = HTTPResponse.error(503, "all " + String(connections.capacity) + " HTTP connections are in use",
                                                fields: ["Retry-After: 1"]).encoded(keepAlive: false)
                _ = answer.withUnsafeBytes { try? fd.write($0) }
                fd.close()
                continue
            }
            adopt(fd, peer: peer, slot: slot)
        }
    }

    /// Serves a connected socket in a free slot (accept, and the tests and fuzz target
    /// over a socket pair); false when epoll refused it (it is closed).
    @discardableResult
    func adopt(_ fd: FileDescriptor, peer: SocketAddress, slot: Int) -> Bool {
        let now = MonotonicClock.now()
        connections[slot].open(fd, peer: peer, now: now)
        do throws(Errno) {
            try core.loop.add(fd, .readable, token(slot))
            connections[slot].registered = .readable
        } catch {
            close(slot, reason: "epoll: " + error.message)
            return false
        }
        core.timer.schedule(now + HTTPFrontEnd.keepAliveMs)
        return true
    }

    private func token(_ slot: Int) -> EventToken {
        EventToken(connectionKind, index: UInt32(slot), generation: connections[slot].generation)
    }

    private func ready(_ token: EventToken, _ readiness: Readiness) {
        let slot = Int(token.index)
        guard slot < connections.capacity, connections[slot].isOpen, connections[slot].generation == token.generation else { return }
        serve(slot, readable: readiness.readable)
    }

    /// The socket of `slot` is ready: what arrived is read (when wanted) and served.
    func serve(_ slot: Int, readable: Bool) {
        if readable && wantsInput(slot) {
            switch connections[slot].read() {
            case .ended: connections[slot].peerEnded = true
            case .failed: return close(slot, reason: "the peer went away")
            case .some: break
            }
        }
        pump(slot)
    }

    /// Whether the socket is read now: not while a login is checked, a closing
    /// connection is only drained, and a WebSocket whose input the process cannot take
    /// yet waits.
    private func wantsInput(_ slot: Int) -> Bool {
        switch connections[slot].phase {
        case .free, .awaitingLogin: return false
        case .requests, .closing: return !connections[slot].peerEnded
        case .webSocket: return !connections[slot].peerEnded && !inputBlocked(slot)
        }
    }

    // MARK: Serving

    /// Serves what was received, writes what is queued, and closes or re-arms epoll.
    func pump(_ slot: Int) {
        guard connections[slot].isOpen else { return }
        for _ in 0..<HTTPFrontEnd.stepsPerTurn {
            let progressed: Bool
            switch connections[slot].phase {
            case .requests: progressed = serveRequest(slot)
            case .webSocket: progressed = readFrames(slot)
            case .closing:
                connections[slot].receive.clear()  // drained: only the peer's close is awaited
                progressed = false
            case .free, .awaitingLogin: progressed = false
            }
            guard connections[slot].isOpen else { return }
            if !progressed { break }
            // Each answer goes out now: the next request (pipelined) is taken once it has.
            guard connections[slot].flush() else { return close(slot, reason: "the peer went away") }
        }
        guard connections[slot].flush() else { return close(slot, reason: "the peer went away") }
        if connections[slot].phase == .webSocket { outputMoved(slot) }
        guard connections[slot].isOpen else { return }
        if connections[slot].closeAfterFlush && connections[slot].transmit.isEmpty && connections[slot].phase != .closing {
            beginLinger(slot)
        }
        if connections[slot].peerEnded {
            switch connections[slot].phase {
            case .closing: return close(slot, reason: connections[slot].closeReason)
            case .requests where connections[slot].transmit.isEmpty:
                guard connections[slot].receive.isEmpty else {
                    // What is left can never become a request.
                    connections[slot].receive.clear()
                    respond(slot, .error(400, "the connection ended inside a request head"), keepAlive: false)
                    return pump(slot)
                }
                return close(slot, reason: "the peer finished")
            case .webSocket: return close(slot, reason: "the peer closed the connection without a close frame")
            default: break
            }
        }
        let wanted: Interest?
        if !connections[slot].transmit.isEmpty {
            wanted = wantsInput(slot) ? [.readable, .writable] : .writable
        } else {
            wanted = wantsInput(slot) ? .readable : nil
        }
        guard let fd = connections[slot].fd?.descriptor else { return }
        connections[slot].registered = core.loop.update(fd, from: connections[slot].registered, to: wanted, token(slot))
    }

    /// Queues an answer; `keepAlive` false closes the connection once it is out.
    func respond(_ slot: Int, _ response: HTTPResponse, keepAlive: Bool) {
        let bytes = response.encoded(keepAlive: keepAlive)
        if !connections[slot].send(bytes) {
            // Larger than the buffer (never for what this front end sends): said plainly.
            connections[slot].send(HTTPResponse.error(500, "answer too large").encoded(keepAlive: false))
            connections[slot].closeAfterFlush = true
        }
        connections[slot].lastActivity = MonotonicClock.now()
        if !keepAlive {
            connections[slot].closeAfterFlush = true
            connections[slot].closeReason = "answered " + String(response.status) + " and closed"
        }
    }

    /// The last answer is out: the sending side shuts, and what the peer still sends is
    /// read and dropped until it closes or the linger time is over, so that it reads the
    /// answer instead of a reset.
    /// A WebSocket's peer answers the close frame and then closes (RFC 6455 section 7.1.1):
    /// it is given longer, since a client library may still be working through the
    /// output it has taken.
    private func beginLinger(_ slot: Int) {
        if let fd = connections[slot].fd?.descriptor { _ = CSys.shutdown(fd.rawValue, CSYS_SHUT_WR) }
        connections[slot].lingerMs = connections[slot].phase == .webSocket ? HTTPFrontEnd.keepAliveMs : HTTPFrontEnd.lingerMs
        connections[slot].phase = .closing
        let due = MonotonicClock.now() + connections[slot].lingerMs
        connections[slot].closeAt = due
        core.timer.schedule(due)
    }

    func close(_ slot: Int, reason: String) {
        guard connections[slot].isOpen else { return }
        let closing = ref(slot)
        Log.debug("HTTP connection from \(connections[slot].peer.description) closed: \(reason)")
        #if !DBG_NO_CHANNELS
        detachShells(of: slot)
        #endif
        if let fd = connections[slot].fd?.descriptor, connections[slot].registered != nil { core.loop.remove(fd) }
        connections[slot].reset()
        connections.releasePages(slot)
        core.connectionClosed(closing)
    }

    // MARK: Deadlines

    /// Closes what is due: a request head not finished within --handshake-timeout (408),
    /// a kept-alive connection idle for 30 s, a WebSocket without its CallMessage within
    /// --handshake-timeout, a closing connection at the end of its linger; HTTP sessions
    /// unused for --http-session-timeout end. Returns the next deadline.
    func expire(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for slot in 0..<connections.capacity where connections[slot].isOpen {
            guard let due = deadline(slot) else { continue }
            if due <= now {
                expire(slot)
            } else {
                next = min(next ?? due, due)
            }
        }
        if let due = expireSessions(now: now) { next = min(next ?? due, due) }
        return next
    }

    private func deadline(_ slot: Int) -> Milliseconds? {
        let connection = connections[slot].lastActivity
        switch connections[slot].phase {
        case .free, .awaitingLogin: return nil
        case .closing: return connections[slot].closeAt
        case .requests:
            // Also while an answer waits to go out: answers are small, and a peer that
            // reads none of it for this long only holds a slot.
            return connection + (connections[slot].headStarted ? config.handshakeTimeoutMs : HTTPFrontEnd.keepAliveMs)
        case .webSocket:
            // A channel connection has no first message to wait for.
            let awaiting = connections[slot].socket.stage == .awaitingCall && connections[slot].socket.channels == nil
            return awaiting ? connection + config.handshakeTimeoutMs : nil
        }
    }

    private func expire(_ slot: Int) {
        switch connections[slot].phase {
        case .requests where connections[slot].headStarted:
            respond(slot, .error(408, "the request was not complete within " + String(config.handshakeTimeoutMs / 1000) + " s"),
                    keepAlive: false)
            pump(slot)
        case .webSocket:
            finishCall(slot, success: false, message: "no CallMessage within " + String(config.handshakeTimeoutMs / 1000) + " s",
                       closeCode: 1008)
            pump(slot)
        case .closing:
            // A peer still reading what was sent (a WebSocket's last output, thousands
            // of lines) is given the time it needs, as long as it goes on taking it.
            let socket = connections[slot].fd?.descriptor
            let unsent = socket.map { Int(csys_unsent_bytes($0.rawValue)) } ?? -1
            if unsent > 0 && unsent < connections[slot].unsent {
                connections[slot].unsent = unsent
                connections[slot].closeAt = MonotonicClock.now() + connections[slot].lingerMs
                core.timer.schedule(connections[slot].closeAt)
                return
            }
            close(slot, reason: "linger time over")
        default:
            close(slot, reason: "idle")
        }
    }

    /// Sessions of POST /api/v1/auth unused for too long end; returns when the next may.
    private func expireSessions(now: Milliseconds) -> Milliseconds? {
        let idle = config.http.sessionIdleMs
        // A call still running, or a channel connection, is a use of its session: a long
        // one is not cut off.
        for slot in 0..<connections.capacity where connections[slot].phase == .webSocket && (connections[slot].socket.channels != nil
            || (connections[slot].socket.stage != .awaitingCall && connections[slot].socket.stage != .finished)) {
            _ = webSocketSession(slot)
        }
        for index in core.sessions.sessions.unused(on: sessionHolder, since: now - min(now, idle)) {
            let session = core.sessions.remove(index)
            Log.info("'\(session.user.account.name)' logged out (HTTP session unused for \(idle / 1000) s)")
            core.sessionEnded(session)
        }
        var next: Milliseconds?
        for index in 0..<core.sessions.sessions.capacity where core.sessions.sessions.isUsed(index) {
            let session = core.sessions.sessions[index]
            guard session.connection == sessionHolder else { continue }
            next = min(next ?? session.lastUsed + idle, session.lastUsed + idle)
        }
        return next
    }
}
