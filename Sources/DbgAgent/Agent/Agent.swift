import CSys
import DbgWire

/// The agent: one thread, one epoll loop, every buffer allocated at start-up.
/// Listeners, connections, the deadline timer and signals are the loop's sources; this
/// type routes their events and owns connection life cycles.
final class Agent {
    let config: AgentConfig
    let loop: EventLoop
    var connections: ConnectionTable
    let timer: DeadlineTimer
    let signals: SignalStream
    let listeners: [Listener]
    let router: RequestRouter
    let dbg: DbgService
    let distro: DistroService
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
        dbg = try DbgService(config: config, timer: timer, loop: loop)
        distro = try DistroService(config: config, dbg: dbg)
        listeners = try Agent.openListeners(config)
        serialLines = config.serialLines.map { SerialLine($0) }
        router = RequestRouter(control: ControlService(
            maxFrame: config.maxFrame, services: RequestRouter.served,
            features: WireBytes("transport=tcp,unix,serial auth=\(config.authMethod.name) max-connections=\(config.maxConnections) "
                + "arch=\(AgentVersion.architecture) build=\(AgentVersion.flavor)")), dbg: dbg, distro: distro)
        reserveFD = try? FileDescriptor.open("/dev/null", writable: false)
        do throws(Errno) {
            try loop.add(signals.fd, .readable, EventToken(.signals))
            try loop.add(timer.fd, .readable, EventToken(.timer))
            try loop.add(dbg.workers.wakeup, .readable, EventToken(.workers))
            try loop.add(dbg.fileWorkers.wakeup, .readable, EventToken(.fileWorkers))
            try loop.add(distro.jobs.wakeup, .readable, EventToken(.distroJobs))
            for (index, listener) in listeners.enumerated() {
                try loop.add(listener.fd, .readable, EventToken(.listener, index: UInt32(index)))
            }
        } catch {
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    deinit {
        for listener in listeners { listener.close() }
        reserveFD?.close()
        scratch.deallocate()
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
                try loop.poll(timeoutMs: -1) { token, readiness in dispatch(token, readiness) }
            } catch {
                Log.info("epoll_wait failed: \(error.message)")
                return 1
            }
        }
        // Sessions first, synchronously: closing connections would hand their PAM
        // sessions to the workers, which the exit would cut short.
        distro.shutdown()
        dbg.shutdown()
        for index in 0..<connections.capacity where connections[index].isActive {
            close(index, reason: "agent shutting down")
        }
        closeSerialLines()
        return 0
    }

    private func dispatch(_ token: EventToken, _ readiness: Readiness) {
        switch token.kind {
        case .listener: acceptConnections(from: Int(token.index))
        case .connection: connectionReady(token, readiness)
        case .timer: expireDeadlines()
        case .signals: handleSignals()
        case .workers:
            dbg.workersFinished(pumpIfOpen)
        case .fileWorkers:
            dbg.fileWorkersFinished(pumpIfOpen)
        case .distroJobs:
            distro.jobsFinished(pumpIfOpen)
        case .serialTTY:
            serialTTYReady(Int(token.index), readiness)
        case .serialBridge:
            serialBridgeReady(Int(token.index), readiness)
        case .commandStdout, .commandStderr:
            dbg.commandOutputReady(token)
        case .shell:
            guard let slot = dbg.connectionSlot(ofShell: token), connections[slot].isActive else { return }
            _ = dbg.shellReady(token, readiness, &connections[slot])
            pump(slot)
        }
    }

    private func handleSignals() {
        while let signal = signals.next() {
            switch signal {
            case CSYS_SIGCHLD:
                dbg.reap(pumpIfOpen)
            default:
                Log.info(signal == CSYS_SIGTERM ? "SIGTERM: shutting down" : "SIGINT: shutting down")
                running = false
            }
        }
    }

    /// One line with the whole budget: every pool, mapped once at start-up.
    private func logBudget() {
        let kib = { (bytes: Int) in (bytes + 1023) / 1024 }
        let total = connections.budgetBytes + dbg.commands.budgetBytes + dbg.shells.budgetBytes
        Log.info("memory budget \(kib(total)) KiB: \(connections.capacity) connections x \(kib(connections.slotBytes)) KiB "
            + "(receive \(kib(config.receiveBufferSize)) + transmit \(kib(config.transmitBufferSize))), "
            + "\(config.maxExec) commands x \(kib(2 * config.maxOutput)) KiB of output, "
            + "\(config.maxShells) shells x \(kib(dbg.shells.budgetBytes / config.maxShells)) KiB of input; "
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
