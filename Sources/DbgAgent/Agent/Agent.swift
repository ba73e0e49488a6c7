import CSys
import DbgWire

/// The agent: one thread, one epoll loop, every buffer allocated at start-up. It is the
/// Sutra front end: it owns the listeners, the connections and their life cycles, and
/// serves the loop's timer and signals. It lives until the process exits.
final class Agent: FrontEnd {
    let config: AgentConfig
    let loop: EventLoop
    var connections: ConnectionTable
    let timer: DeadlineTimer
    let signals: SignalStream
    let listeners: [Listener]
    let router: RequestRouter
    let core: ServiceCore
    let distro: DistroService
    let shells: ShellRelay
    /// The agent's own kinds of event source (the core's and the services' register
    /// themselves).
    var kinds = SourceKinds()
    let serialLines: [SerialLine]
    /// A descriptor kept in reserve: when accept fails with EMFILE it is closed, the
    /// waiting connection accepted and turned away, and the reserve reopened. Without it,
    /// a level-triggered listener would spin on a connection it can never accept.
    var reserveFD: FileDescriptor?
    /// Turned-away connections come in floods; their log lines are summarised.
    var refusalLog = RateLimitedLog(intervalMs: 1000)
    /// For frames written outside any connection slot (turning a connection away).
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
    var running = true

    init(config: AgentConfig) throws(StartupError) {
        self.config = config
        Log.verbose = config.verbose
        try ensureDescriptorLimit(config)
        _ = csys_ignore_signal(CSYS_SIGPIPE)
        do throws(Errno) {
            signals = try SignalStream([CSYS_SIGTERM, CSYS_SIGINT, CSYS_SIGCHLD])
            loop = try EventLoop()
            timer = try DeadlineTimer()
            connections = try ConnectionTable(capacity: config.maxConnections,
                                              receiveSize: config.receiveBufferSize,
                                              transmitSize: config.transmitBufferSize)
        } catch {
            throw StartupError("cannot set up the event loop: \(error.message)")
        }
        core = try ServiceCore(config: config, timer: timer, loop: loop)
        distro = try DistroService(config: config, core: core)
        shells = ShellRelay(processes: core.processes)
        listeners = try Agent.openListeners(config)
        serialLines = config.serialLines.map { SerialLine($0) }
        router = RequestRouter(control: ControlService(
            maxFrame: config.maxFrame, services: RequestRouter.served,
            features: WireBytes("transport=tcp,unix,serial auth=\(config.authMethod.name) max-connections=\(config.maxConnections) "
                + "arch=\(AgentVersion.architecture) build=\(AgentVersion.flavor)")),
            dbg: DbgService(config: config, core: core), distro: distro)
        reserveFD = try? FileDescriptor.open("/dev/null", writable: false)
        kinds.listener = loop.register { token, _ in self.acceptConnections(from: Int(token.index)) }
        kinds.connection = loop.register { token, readiness in self.connectionReady(token, readiness) }
        kinds.serialTTY = loop.register { token, readiness in self.serialTTYReady(Int(token.index), readiness) }
        kinds.serialBridge = loop.register { token, readiness in self.serialBridgeReady(Int(token.index), readiness) }
        connections.frontEnd = core.register(self)
        do throws(Errno) {
            try loop.add(signals.fd, .readable, EventToken(loop.register { _, _ in self.handleSignals() }))
            try loop.add(timer.fd, .readable, EventToken(loop.register { _, _ in self.expireDeadlines() }))
            for (index, listener) in listeners.enumerated() {
                try loop.add(listener.fd, .readable, EventToken(kinds.listener, index: UInt32(index)))
            }
        } catch {
            for listener in listeners { listener.close() }
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    /// Serves until SIGTERM or SIGINT; returns the process exit status.
    func run() -> Int32 {
        logBudget()
        for listener in listeners {
            Log.info("listening on \(listener.address.description)")
        }
        openSerialLines()
        // Orphaned descendants of commands become ours, so they can be cleaned up
        // (OrphanSweep). qemu-user refuses this prctl; a real kernel has it since 3.4.
        if csys_become_subreaper() != 0 {
            Log.info("cannot become a child subreaper (\(Errno.current.message)): processes that commands leave "
                + "behind may outlive them")
        }
        Log.info("\(AgentVersion.line) ready")
        while running {
            do throws(Errno) {
                // Work that finished during an event: its connections answer right after it.
                try loop.poll(timeoutMs: -1) { core.announceCompletions() }
            } catch {
                Log.info("epoll_wait failed: \(error.message)")
                return 1
            }
        }
        // Sessions first, synchronously: closing connections would hand their PAM
        // sessions to the workers, which the exit would cut short.
        distro.shutdown()
        core.shutdown()
        for index in 0..<connections.capacity where connections[index].isActive {
            close(index, reason: "agent shutting down")
        }
        closeSerialLines()
        // The agent lives as long as the process (the loop's handlers hold it), so what
        // must not outlast it is closed here: the Unix socket's name goes with it.
        for listener in listeners { listener.close() }
        return 0
    }

    // MARK: FrontEnd

    func completionsReady(for connection: ConnectionRef) { pumpIfOpen(connection) }

    /// PTY output and input room, for the connection the shell belongs to.
    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness) {
        guard let slot = openSlot(of: connection) else { return }
        _ = shells.shellReady(shell, readiness, &connections[slot])
        pump(slot)
    }

    private func handleSignals() {
        while let signal = signals.next() {
            switch signal {
            case CSYS_SIGCHLD:
                core.processes.reap()
            default:
                Log.info(signal == CSYS_SIGTERM ? "SIGTERM: shutting down" : "SIGINT: shutting down")
                running = false
            }
        }
    }

    /// The kinds of event source the agent itself serves.
    struct SourceKinds {
        var listener = EventToken.Kind.none
        var connection = EventToken.Kind.none
        var serialTTY = EventToken.Kind.none
        var serialBridge = EventToken.Kind.none
    }

    /// One line with the whole budget: every pool, mapped once at start-up.
    private func logBudget() {
        let kib = { (bytes: Int) in (bytes + 1023) / 1024 }
        let total = connections.budgetBytes + core.processes.budgetBytes
        Log.info("memory budget \(kib(total)) KiB: \(connections.capacity) connections x \(kib(connections.slotBytes)) KiB "
            + "(receive \(kib(config.receiveBufferSize)) + transmit \(kib(config.transmitBufferSize))), "
            + "\(config.maxExec) commands x \(kib(2 * config.maxOutput)) KiB of output, "
            + "\(config.maxShells) shells x \(kib(core.processes.shells.budgetBytes / config.maxShells)) KiB of input; "
            + "pages are committed only while in use")
        Log.info("authentication: \(config.authMethod.name), \(config.maxAuthInFlight) worker threads, "
            + "\(config.maxSessions) sessions")
        if !serialLines.isEmpty {
            Log.info("serial lines: \(serialLines.count), each with \(kib(SerialLine.bufferBytes)) KiB of link buffers, "
                + "one connection at a time")
        }
        Log.info("distro: root \(distro.root.description); an install decompresses with at most "
            + "\(ArchiveStream.decoderMemoryLimit >> 20) MiB of window, one install at a time")
    }

    private static func openListeners(_ config: AgentConfig) throws(StartupError) -> [Listener] {
        var listeners: [Listener] = []
        for target in config.effectiveListen {
            do throws(StartupError) {
                listeners.append(try Listener.open(target))
            } catch {
                // A board without IPv6 still gets the default port, on IPv4.
                if config.listen.isEmpty {  // the default listener
                    Log.info("IPv6 unavailable (\(error.message)); listening on IPv4 only")
                    listeners.append(try Listener.open(.tcp(host: "0.0.0.0", port: ListenAddress.defaultPort, ipv6: false)))
                    continue
                }
                for listener in listeners { listener.close() }
                throw error
            }
        }
        return listeners
    }
}

/// Raises the soft descriptor limit so that every connection slot can be filled.
private func ensureDescriptorLimit(_ config: AgentConfig) throws(StartupError) {
    // Per connection its socket and splice pipe; per command two pipes; per shell a PTY;
    // the open-file cache; listeners, epoll, timerfd, signalfd, eventfd, the EMFILE
    // reserve and stdio.
    let needed = UInt64(3 * config.maxConnections + 2 * config.maxExec + config.maxShells + 32
        + config.effectiveListen.count + 16)
    var soft: UInt64 = 0
    var hard: UInt64 = 0
    guard csys_nofile_limit(&soft, &hard) == 0, soft < needed else { return }
    if hard < needed {
        throw StartupError("--max-connections \(config.maxConnections) needs \(needed) file descriptors, "
            + "but the hard limit is \(hard) (raise it with ulimit -n)")
    }
    _ = csys_set_nofile_soft_limit(needed)
}
