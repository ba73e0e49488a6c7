import CSys
import DbgWire

/// The Sutra front end: the listeners, the connection table and each connection's life
/// (accept, frames in, answers out, back-pressure, closing), serial lines bridged into
/// connections, and the services' answers to work the core finished. One of the core's
/// front ends (`FrontEnd`); it registers its own kinds of event source with the loop.
final class SutraFrontEnd: FrontEnd {
    let config: AgentConfig
    let loop: EventLoop
    let timer: DeadlineTimer
    let core: ServiceCore
    let router: RequestRouter
    #if !DBG_NO_SHELLS
    let shells: ShellRelay
    #endif
    #if !DBG_NO_STREAMS
    let streams: StreamRelay
    #endif
    #if !DBG_NO_FORWARD
    let forwards: ForwardRelay
    #endif
    var connections: ConnectionTable
    let listeners: [Listener]
    #if !DBG_NO_SERIAL
    let serialLines: [SerialLine]
    #endif
    /// TLS for network connections (a ClientHello as first byte); nil when the agent
    /// serves no TCP or is built without it.
    let tls: TLSRelay?
    var kinds = SourceKinds()
    /// A descriptor kept in reserve: when accept fails with EMFILE it is closed, the
    /// waiting connection accepted and turned away, and the reserve reopened. Without it,
    /// a level-triggered listener would spin on a connection it can never accept.
    var reserveFD: FileDescriptor?
    /// Turned-away connections come in floods; their log lines are summarised.
    var refusalLog = RateLimitedLog(intervalMs: 1000)
    /// For frames written outside any connection slot (turning a connection away).
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)

    /// The kinds of event source this front end serves.
    struct SourceKinds {
        var listener = EventToken.Kind.none
        var connection = EventToken.Kind.none
        var serialTTY = EventToken.Kind.none
        var serialBridge = EventToken.Kind.none
    }

    init(config: AgentConfig, loop: EventLoop, timer: DeadlineTimer, core: ServiceCore, router: RequestRouter,
         listeners: [Listener], tls: TLSRelay?) throws(StartupError) {
        self.config = config
        self.loop = loop
        self.timer = timer
        self.core = core
        self.router = router
        self.listeners = listeners
        #if !DBG_NO_SERIAL
        serialLines = config.serialLines.map { SerialLine($0) }
        #endif
        self.tls = tls
        #if !DBG_NO_SHELLS
        shells = ShellRelay(processes: core.processes)
        #endif
        #if !DBG_NO_STREAMS
        streams = StreamRelay(processes: core.processes)
        #endif
        #if !DBG_NO_FORWARD
        forwards = ForwardRelay(forwarder: core.forwarder)
        #endif
        do throws(Errno) {
            connections = try ConnectionTable(capacity: config.maxConnections, receiveSize: config.receiveBufferSize,
                                              transmitSize: config.transmitBufferSize)
        } catch {
            throw StartupError("cannot set up the connection table: \(error.message)")
        }
        reserveFD = try? FileDescriptor.open("/dev/null", writable: false)
        kinds.listener = loop.register { token, _ in self.acceptConnections(from: Int(token.index)) }
        kinds.connection = loop.register { token, readiness in self.connectionReady(token, readiness) }
        #if !DBG_NO_SERIAL
        kinds.serialTTY = loop.register { token, readiness in self.serialTTYReady(Int(token.index), readiness) }
        kinds.serialBridge = loop.register { token, readiness in self.serialBridgeReady(Int(token.index), readiness) }
        #endif
        connections.frontEnd = core.register(self)
        do throws(Errno) {
            for (index, listener) in listeners.enumerated() {
                try loop.add(listener.fd, .readable, EventToken(kinds.listener, index: UInt32(index)))
            }
        } catch {
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    /// Starts serving: the serial lines open (the listeners are already watched).
    func start() {
        for listener in listeners { Log.info("listening on \(listener.address.description)") }
        warnAboutCleartext()
        #if !DBG_NO_SERIAL
        openSerialLines()
        #endif
    }

    /// Before the agent exits: every connection and serial line closes, and the
    /// listeners (a Unix socket's name goes with it).
    func shutdown() {
        for index in 0..<connections.capacity where connections[index].isActive {
            close(index, reason: "agent shutting down")
        }
        #if !DBG_NO_SERIAL
        closeSerialLines()
        #endif
        for listener in listeners { listener.close() }
    }

    enum AdoptFailure: Error {
        /// Every slot is taken; the descriptor is still the caller's.
        case tableFull
        /// epoll refused it; the descriptor is closed.
        case epoll(Errno)
    }

    /// Serves a socket that is already connected (a serial line's bridge): a slot, epoll,
    /// the handshake deadline. Returns the slot.
    func adopt(_ fd: FileDescriptor, peer: SocketAddress) throws(AdoptFailure) -> Int {
        let now = MonotonicClock.now()
        guard let slot = connections.open(fd, peer: peer, now: now, maxPayload: config.maxFrame) else { throw .tableFull }
        do throws(Errno) {
            try loop.add(connections[slot].fd, .readable, token(for: slot))
            connections[slot].registered = .readable
        } catch {
            connections.release(slot)
            throw .epoll(error)
        }
        timer.schedule(now + config.handshakeTimeoutMs)
        return slot
    }

    // MARK: FrontEnd

    func completionsReady(for connection: ConnectionRef) { pumpIfOpen(connection) }

    /// PTY output and input room, for the connection the shell belongs to.
    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness) {
        #if !DBG_NO_SHELLS
        guard let slot = openSlot(of: connection) else { return }
        _ = shells.shellReady(shell, readiness, &connections[slot])
        pump(slot)
        #endif
    }

    #if !DBG_NO_FORWARD
    /// A forwarded stream: accepted, connected, bytes, its end, or room for input.
    func forwardReady(_ stream: Int, of connection: ConnectionRef) {
        guard let slot = openSlot(of: connection) else { return }
        forwards.streamReady(stream, &connections[slot])
        pump(slot)
    }
    #endif

    /// A streaming process's pipes: output, its end, or room for waiting input.
    func streamReady(_ stream: Int, of connection: ConnectionRef) {
        #if !DBG_NO_STREAMS
        guard let slot = openSlot(of: connection) else { return }
        streams.streamReady(stream, &connections[slot])
        pump(slot)
        #endif
    }
}
