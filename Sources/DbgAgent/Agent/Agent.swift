import CSys
import DbgWire

/// The agent: one thread, one epoll loop, every buffer allocated at start-up. It sets up
/// the loop, the timer, the signals, the service core and the front ends, serves the
/// timer and the signals, and shuts down. It lives until the process exits (the loop's
/// handlers hold it).
final class Agent {
    let config: AgentConfig
    let loop: EventLoop
    let timer: DeadlineTimer
    let signals: SignalStream
    let core: ServiceCore
    #if !DBG_NO_DISTRO
    let distro: DistroService
    #endif
    let sutra: SutraFrontEnd
    #if !DBG_NO_MDNS
    /// --mdns: the board answers multicast DNS for its dbg service.
    let discovery: MDNSResponder?
    #endif
    #if !DBG_NO_APP
    /// The application runtime (seed 002) and its socket.
    let app: AppRuntime?
    let rpc: RPCFrontEnd?
    #endif
    #if !DBG_NO_HTTP
    /// --http: the HTTP + WebSocket API and the web console.
    let http: HTTPFrontEnd?
    #endif
    #if !DBG_NO_TLS
    /// The board's key, when the agent serves TCP, and the line that says where it came
    /// from (logged once serving, so a start-up that fails prints only its error).
    let identity: AgentIdentity?
    private let identityNotice: String?
    /// TLS on the TCP listeners: its thread and sessions.
    let tls: TLSRelay?
    #endif
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
        } catch {
            throw StartupError("cannot set up the event loop: \(error.message)")
        }
        core = try ServiceCore(config: config, timer: timer, loop: loop)
        #if !DBG_NO_TLS
        let board = config.servesTCP ? try Agent.boardIdentity(config) : nil
        (identity, identityNotice) = (board?.identity, board?.notice)
        tls = try board.map { board throws(StartupError) in try TLSRelay(identity: board.identity, capacity: config.maxConnections) }
        let keyFeature = identity.map { " tls key=" + $0.fingerprint } ?? ""
        #else
        let keyFeature = ""
        #endif
        #if !DBG_NO_DISTRO
        distro = try DistroService(config: config, core: core)
        #endif
        let dbg = DbgService(config: config, core: core)
        #if !DBG_NO_APP
        let started = try Agent.startApp(config, core: core)
        (app, rpc) = (started?.0, started?.1)
        dbg.app = app
        #endif
        #if !DBG_NO_HTTP
        http = try Agent.startHTTP(config, core: core)
        #if !DBG_NO_DISTRO
        if let http { Agent.add(distro, to: http) }
        #endif
        #if !DBG_NO_APP
        if let http, let app {
            http.app = app
            http.statusProviders.append(("app", { app.status() }))
        }
        #endif
        let httpFeature = " http=" + (http.map { $0.listeners.map { $0.address.description }.joined(separator: ",") } ?? "off")
        #else
        let httpFeature = " http=off"
        #endif
        #if DBG_NO_FORWARD
        let forwardFeature = " forward=off"
        #else
        let forwardFeature = " forward=" + (config.forwarding ? String(config.maxForwards) : "off")
        #endif
        let control = ControlService(
            maxFrame: config.maxFrame, services: RequestRouter.served,
            features: WireBytes("transport=" + Agent.transports + " auth=\(config.authMethod.name) max-connections=\(config.maxConnections) "
                + "arch=\(AgentVersion.architecture) build=\(AgentVersion.flavor)" + keyFeature + httpFeature + forwardFeature))
        #if DBG_NO_DISTRO
        let router = RequestRouter(control: control, dbg: dbg)
        #else
        let router = RequestRouter(control: control, dbg: dbg, distro: distro)
        #endif
        let listeners = try Agent.openListeners(config)
        #if DBG_NO_TLS
        let tlsRelay: TLSRelay? = nil
        #else
        let tlsRelay = tls
        #endif
        do throws(StartupError) {
            sutra = try SutraFrontEnd(config: config, loop: loop, timer: timer, core: core, router: router,
                                      listeners: listeners, tls: tlsRelay)
        } catch {
            for listener in listeners { listener.close() }
            #if !DBG_NO_HTTP
            http?.shutdown()
            #endif
            throw error
        }
        #if !DBG_NO_MDNS
        do throws(StartupError) {
            discovery = config.mdns ? try MDNSResponder(identity: BoardIdentity(instanceName: config.mdnsName),
                                                        servicePort: Agent.announcedPort(listeners)) : nil
        } catch {
            for listener in listeners { listener.close() }
            #if !DBG_NO_HTTP
            http?.shutdown()
            #endif
            throw error
        }
        #endif
        do throws(Errno) {
            try loop.add(signals.fd, .readable, EventToken(loop.register { _, _ in self.handleSignals() }))
            try loop.add(timer.fd, .readable, EventToken(loop.register { _, _ in self.expireDeadlines() }))
            #if !DBG_NO_MDNS
            try discovery?.register(with: loop)
            #endif
        } catch {
            for listener in listeners { listener.close() }
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    /// Serves until SIGTERM or SIGINT; returns the process exit status. `serving` is told
    /// once the listeners take connections (the pidfile, --background, systemd).
    func run(serving: () throws(StartupError) -> Void) throws(StartupError) -> Int32 {
        logBudget()
        #if !DBG_NO_TLS
        if let identityNotice { Log.info(identityNotice) }
        #endif
        sutra.start()
        #if !DBG_NO_HTTP
        http?.start()
        #endif
        // Orphaned descendants of commands become ours, so they can be cleaned up
        // (OrphanSweep). qemu-user refuses this prctl; a real kernel has it since 3.4.
        if csys_become_subreaper() != 0 {
            Log.info("cannot become a child subreaper (\(Errno.current.message)): processes that commands leave "
                + "behind may outlive them")
        }
        #if !DBG_NO_MDNS
        if let discovery, let due = discovery.expire(now: MonotonicClock.now()) { timer.schedule(due) }
        #endif
        Log.info("\(AgentVersion.line) ready")
        core.news.add(.agent, AgentVersion.line + " started")
        do throws(StartupError) {
            try serving()
        } catch {
            stop()
            throw error
        }
        while running {
            do throws(Errno) {
                // Work that finished during an event: its connections answer right after it.
                try loop.poll(timeoutMs: -1) { core.announceCompletions() }
            } catch {
                Log.info("epoll_wait failed: \(error.message)")
                return 1
            }
        }
        StartupNotice.stopping()
        stop()
        return 0
    }

    private func stop() {
        // Sessions first, synchronously: closing connections would hand their PAM
        // sessions to the workers, which the exit would cut short.
        #if !DBG_NO_MDNS
        discovery?.shutdown()
        #endif
        #if !DBG_NO_DISTRO
        distro.shutdown()
        #endif
        #if !DBG_NO_APP
        app?.shutdown()
        rpc?.shutdown()
        #endif
        core.shutdown()
        sutra.shutdown()
        #if !DBG_NO_HTTP
        http?.shutdown()
        #endif
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

    /// The timer: whatever is due in the front end and in the core.
    private func expireDeadlines() {
        timer.acknowledge()
        let now = MonotonicClock.now()
        sutra.expire(now: now)
        if let due = core.expire(now: now) { timer.schedule(due) }
        #if !DBG_NO_HTTP
        if let http, let due = http.expire(now: now) { timer.schedule(due) }
        #endif
        #if !DBG_NO_APP
        if let app, let due = app.expire(now: now) { timer.schedule(due) }
        #endif
        #if !DBG_NO_MDNS
        if let discovery, let due = discovery.expire(now: now) { timer.schedule(due) }
        #endif
    }

    /// One line with the whole budget: every pool, mapped once at start-up.
    private func logBudget() {
        let kib = { (bytes: Int) in (bytes + 1023) / 1024 }
        var total = sutra.connections.budgetBytes + core.processes.budgetBytes
        #if !DBG_NO_TLS
        total += tls?.budgetBytes ?? 0
        #endif
        #if !DBG_NO_APP
        total += (app?.log.capacity ?? 0) + (rpc?.budgetBytes ?? 0)
        #endif
        #if !DBG_NO_HTTP
        total += http?.budgetBytes ?? 0
        #endif
        var forwarding = "forwarding off"
        #if !DBG_NO_FORWARD
        total += core.forwarder.streams.budgetBytes
        if config.forwarding { forwarding = "\(config.maxForwards) forwarded streams x \(kib(ForwardedStream.window)) KiB" }
        #endif
        var flash = ""
        #if !DBG_NO_FLASH
        total += core.flasher.budgetBytes
        flash = ", flashing \(kib(core.flasher.budgetBytes)) KiB"
        #endif
        #if DBG_NO_SHELLS
        let shellBudget = ""
        #else
        let shellBudget = "\(config.maxShells) shells x \(kib(core.processes.shells.budgetBytes / config.maxShells)) KiB of input, "
        #endif
        #if DBG_NO_STREAMS
        let streamBudget = ""
        #else
        let streamBudget = "\(config.maxStreams) streaming processes x \(kib(StreamingProcess.inputWindow)) KiB of input, "
        #endif
        Log.info("memory budget \(kib(total)) KiB: \(sutra.connections.capacity) connections x "
            + "\(kib(sutra.connections.slotBytes)) KiB "
            + "(receive \(kib(config.receiveBufferSize)) + transmit \(kib(config.transmitBufferSize))), "
            + "\(config.maxExec) commands x \(kib(2 * config.maxOutput)) KiB of output, "
            + shellBudget
            + streamBudget
            + forwarding
            + flash + "; "
            + "pages are committed only while in use")
        Log.info("authentication: \(config.authMethod.name), \(config.maxAuthInFlight) worker threads, "
            + "\(config.maxSessions) sessions")
        #if !DBG_NO_TLS
        if let tls {
            Log.info("tls: " + String(tls.capacity) + " sessions x " + String(kib(tls.budgetBytes / tls.capacity))
                + " KiB (engine, records, read-ahead), handshakes on their own thread, records "
                + (tls.kernelTLS ? "by the kernel (kTLS)" : "by BearSSL on the loop (no tls in " + TLSRelay.ulpList + ")")
                + (config.requireTLS ? "; cleartext refused on TCP" : ""))
        }
        #endif
        #if !DBG_NO_SERIAL
        if !sutra.serialLines.isEmpty {
            Log.info("serial lines: \(sutra.serialLines.count), each with \(kib(SerialLine.bufferBytes)) KiB of link buffers, "
                + "one connection at a time")
        }
        #endif
        #if !DBG_NO_MDNS
        if discovery != nil {
            Log.info("mdns: one \(kib(MDNSResponder.packetBytes)) KiB packet buffer, a 64 KiB socket receive buffer")
        }
        #endif
        #if !DBG_NO_APP
        if let app {
            Log.info("app runtime: " + app.config.directory + " as " + app.directory.user.name + ", log ring "
                + String(kib(app.log.capacity)) + " KiB"
                + (rpc.map { ", socket " + (app.config.rpcSocket ?? "") + " with " + String($0.connections.capacity) + " connections x "
                    + String(kib($0.connections.bufferBytes)) + " KiB" } ?? ", no socket"))
        }
        #endif
        #if !DBG_NO_HTTP
        if let http {
            Log.info("http: " + String(http.connections.capacity) + " connections x " + String(kib(http.connections.bufferBytes))
                + " KiB (request, answer, message and two output lines), sessions end after "
                + String(config.http.sessionIdleMs / 1000) + " s unused")
        }
        #endif
        #if !DBG_NO_DISTRO
        Log.info("distro: root \(distro.root.description); an install decompresses with at most "
            + "\(ArchiveStream.decoderMemoryLimit >> 20) MiB of window, one install at a time")
        #endif
    }

    #if !DBG_NO_TLS
    /// The board's key from --state-dir (made there the first time), and the line that
    /// gives its fingerprint; one for this run only when the directory cannot be written.
    private static func boardIdentity(_ config: AgentConfig) throws(StartupError) -> (identity: AgentIdentity, notice: String) {
        let (identity, origin) = try AgentIdentity.loadOrCreate(in: config.stateDirectory)
        switch origin {
        case .loaded: return (identity, "board key " + identity.fingerprint)
        case .created: return (identity, "board key " + identity.fingerprint + " (made now in " + config.stateDirectory + ")")
        case .ephemeral(let why):
            return (identity, "board key " + identity.fingerprint + " for this run only: " + why
                + "; clients that pinned the board will refuse it (give --state-dir a writable place)")
        }
    }
    #endif

    /// The TCP port multicast DNS announces: the first TCP listener's.
    private static func announcedPort(_ listeners: [Listener]) throws(StartupError) -> UInt16 {
        for listener in listeners where listener.unixPath == nil && listener.address.port != 0 {
            return listener.address.port
        }
        throw StartupError("--mdns announces a TCP port: give --listen (or leave the default listener)")
    }

    /// What Hello's features name as transports.
    static var transports: String {
        #if DBG_NO_SERIAL
        return "tcp,unix"
        #else
        return "tcp,unix,serial"
        #endif
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
    // Per connection its socket and splice pipe (and for TLS the relay's socket and
    // bridge); per command two pipes; per shell a PTY;
    // per streaming process three pipes (or a PTY and a duplicate); per forwarded stream
    // its socket, and the forwarding listeners (Forwarder.maxListeners);
    // the open-file cache; listeners, epoll, timerfd, signalfd, eventfd, the EMFILE
    // reserve and stdio.
    let needed = UInt64(5 * config.maxConnections + 2 * config.maxExec + config.maxShells + 3 * config.maxStreams + 32
        + config.maxForwards + 16 + config.effectiveListen.count + 2 * config.http.connections + config.http.addresses.count + 16)
    var soft: UInt64 = 0
    var hard: UInt64 = 0
    guard csys_nofile_limit(&soft, &hard) == 0, soft < needed else { return }
    if hard < needed {
        throw StartupError("--max-connections \(config.maxConnections) needs \(needed) file descriptors, "
            + "but the hard limit is \(hard) (raise it with ulimit -n)")
    }
    _ = csys_set_nofile_soft_limit(needed)
}
