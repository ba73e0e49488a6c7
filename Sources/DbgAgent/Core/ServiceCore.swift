import DbgWire

/// What every front end drives: sessions, processes, files and file jobs, and the queue
/// through which finished work comes back. The services (dbg, distro) are adapters over
/// it that never depend on each other; a front end (the Sutra connections today) starts
/// work with a reply address and takes its completions from the queue. See
/// docs/ARCHITECTURE.md.
final class ServiceCore {
    let completions: CompletionQueue
    let sessions: SessionStore
    let processes: ProcessHost
    let fileJobs: FileJobs
    let files: SessionFiles
    #if !DBG_NO_FORWARD
    /// Forwarded streams and listeners (StreamConnect, StreamListen).
    let forwarder: Forwarder
    #endif
    let timer: DeadlineTimer
    let loop: EventLoop
    /// Recent events for the HTTP API's news.
    let news = NewsRing()
    #if !DBG_NO_FLASH
    /// Flashing block devices (FlashOpen and the rest).
    let flasher: Flasher
    #endif
    /// Indexed by `ConnectionRef.frontEnd`.
    private var frontEnds: [any FrontEnd] = []
    /// Services with per-connection state of their own (distro's job) hear of closes.
    private var closeObservers: [(ConnectionRef) -> Void] = []
    private var sessionObservers: [(UInt64) -> Void] = []

    init(config: AgentConfig, timer: DeadlineTimer, loop: EventLoop) throws(StartupError) {
        self.timer = timer
        self.loop = loop
        #if DBG_NO_FLASH
        let flashWork = 0
        #else
        let flashWork = Flasher.capacity
        #endif
        // Everything that can finish at once; the distro job is the one outside the core.
        completions = CompletionQueue(capacity: SessionStore.capacity(config) + config.maxExec + config.maxShells
            + config.maxStreams + FileJobs.capacity + 1 + AgentConfig.appMessages(config) + flashWork)
        #if hasFeature(Embedded)
        let stackSize = 256 << 10  // musl's 128 KiB default is tight for the hash functions
        #else
        let stackSize = 0
        #endif
        do throws(Errno) {
            sessions = try SessionStore(config: config, loop: loop, timer: timer, completions: completions, news: news,
                                    stackSize: stackSize)
            processes = try ProcessHost(config: config, loop: loop, timer: timer, completions: completions)
            fileJobs = try FileJobs(loop: loop, completions: completions, stackSize: stackSize)
            #if !DBG_NO_FORWARD
            forwarder = try Forwarder(config: config, loop: loop)
            #endif
            #if !DBG_NO_FLASH
            flasher = try Flasher(bufferSize: Int(config.maxFrame), loop: loop, timer: timer, completions: completions,
                                  stackSize: stackSize)
            #endif
        } catch {
            throw StartupError("cannot set up the service core: \(error.message)")
        }
        files = SessionFiles(jobs: fileJobs, timer: timer)
        #if !DBG_NO_SHELLS
        processes.shellReady = { shell, connection, readiness in
            self.frontEnd(of: connection)?.shellReady(shell, of: connection, readiness)
        }
        #endif
        #if !DBG_NO_STREAMS
        processes.streamReady = { stream, connection in self.frontEnd(of: connection)?.streamReady(stream, of: connection) }
        #endif
        #if !DBG_NO_FORWARD
        forwarder.ready = { stream, connection in self.frontEnd(of: connection)?.forwardReady(stream, of: connection) }
        #endif
    }

    /// Adds a front end; its connections' refs carry the number returned.
    func register(_ frontEnd: any FrontEnd) -> UInt8 {
        precondition(frontEnds.count < Int(UInt8.max), "too many front ends")
        frontEnds.append(frontEnd)
        return UInt8(frontEnds.count - 1)
    }

    private func frontEnd(of connection: ConnectionRef) -> (any FrontEnd)? {
        Int(connection.frontEnd) < frontEnds.count ? frontEnds[Int(connection.frontEnd)] : nil
    }

    /// After each event: the front ends hear of the connections whose work finished.
    func announceCompletions() {
        completions.drainReady { connection in frontEnd(of: connection)?.completionsReady(for: connection) }
    }

    /// A session ends (Logout): its shells and streaming processes are hung up, its
    /// open files closed, and the observers told.
    func sessionEnded(_ session: Session) {
        #if !DBG_NO_SHELLS
        processes.hangUpShells(ofSession: session.serial)
        #endif
        #if !DBG_NO_STREAMS
        processes.hangUpStreams(ofSession: session.serial)
        #endif
        #if !DBG_NO_FORWARD
        forwarder.sessionEnded(session.serial)
        #endif
        files.sessionEnded(session.serial)
        #if !DBG_NO_FLASH
        flasher.sessionEnded(session.serial)
        #endif
        for observer in sessionObservers { observer(session.serial) }
    }

    /// A connection closed: its sessions end, its commands are killed, its shells hung
    /// up, its waiting answers dropped; work still running finishes and answers nobody.
    func connectionClosed(_ connection: ConnectionRef) {
        var ended: [UInt64] = []
        sessions.connectionClosed(connection) { session in
            files.sessionEnded(session.serial)
            ended.append(session.serial)
        }
        // Told once the session table is no longer being changed: an observer may look
        // sessions up.
        for serial in ended { for observer in sessionObservers { observer(serial) } }
        processes.connectionClosed(connection)
        #if !DBG_NO_FORWARD
        forwarder.connectionClosed(connection)
        #endif
        fileJobs.connectionClosed(connection)
        #if !DBG_NO_FLASH
        flasher.connectionClosed(connection)
        #endif
        for observer in closeObservers { observer(connection) }
        completions.removeAll(of: connection)
    }

    /// `observer` hears of every connection that closes (after the core's own clean-up).
    func whenConnectionCloses(_ observer: @escaping (ConnectionRef) -> Void) { closeObservers.append(observer) }

    /// `observer` hears of every session that ends, by its serial: a logout, an expiry,
    /// or its connection's close (a front end whose connections use sessions they do
    /// not own closes them).
    func whenSessionEnds(_ observer: @escaping (UInt64) -> Void) { sessionObservers.append(observer) }

    /// Runs what is due at `now` (throttled attempts, timeouts, idle open files, the
    /// orphan sweep); returns the next deadline.
    func expire(now: Milliseconds) -> Milliseconds? {
        var due = [sessions.startDue(now: now), processes.expire(now: now), files.closeIdle(now: now)]
        #if !DBG_NO_FLASH
        due.append(flasher.expire(now: now))
        #endif
        return due.compactMap { $0 }.min()
    }

    /// Before the agent exits: processes are killed and PAM sessions closed, in place.
    func shutdown() {
        processes.shutdown()
        #if !DBG_NO_FORWARD
        forwarder.shutdown()
        #endif
        sessions.shutdown()
    }
}
