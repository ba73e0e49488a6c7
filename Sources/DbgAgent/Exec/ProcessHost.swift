import CSys
import DbgWire

/// Every process the agent runs for a front end: captured commands and shells on PTYs,
/// from launch to reap, with their timeouts, output and input. It knows no wire format:
/// a finished command or an exited shell is posted to the completion queue for the
/// connection in its reply address, and that connection's front end reads the result
/// out of the slot and frees it.
///
/// Nothing here blocks the loop: the loop watches the capture pipes and PTY masters,
/// SIGCHLD reaps, the timer enforces deadlines.
final class ProcessHost {
    let commands: CommandTable
    #if !DBG_NO_SHELLS
    let shells: ShellTable
    /// The last SessionID handed out; they are never reused while the agent runs.
    private var lastShellID: UInt32 = 0
    private(set) var shellKind = EventToken.Kind.none
    /// Where a shell's PTY news goes (the shell's slot, its connection, what the PTY
    /// reported): to its connection's front end, through the core.
    var shellReady: ((Int, ConnectionRef, Readiness) -> Void)?
    #endif
    #if !DBG_NO_STREAMS
    let streams: StreamTable
    /// The last ProcessID handed out, the same way.
    var lastProcessID: UInt32 = 0
    #endif
    /// Output beyond a capture's bound is read into this and dropped.
    let discard = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    let loop: EventLoop
    let timer: DeadlineTimer
    let completions: CompletionQueue
    private var orphans = OrphanSweep()
    /// The event sources: capture pipes, and PTY masters.
    private(set) var outputKind = EventToken.Kind.none
    #if !DBG_NO_STREAMS
    private(set) var streamKind = EventToken.Kind.none
    /// Where a streaming process's pipes (or PTY) news goes.
    var streamReady: ((Int, ConnectionRef) -> Void)?
    #endif
    /// Processes started outside these tables (the application's main): reaped on
    /// SIGCHLD by their owner, and counted as running by the orphan sweep.
    var reapOthers: () -> Void = {}
    var otherPIDs: () -> [Int32] = { [] }

    init(config: AgentConfig, loop: EventLoop, timer: DeadlineTimer, completions: CompletionQueue) throws(Errno) {
        self.loop = loop
        self.timer = timer
        self.completions = completions
        commands = try CommandTable(capacity: config.maxExec, maxOutput: config.maxOutput)
        #if !DBG_NO_SHELLS
        shells = try ShellTable(capacity: config.maxShells, inputBufferSize: config.receiveBufferSize)
        #endif
        #if !DBG_NO_STREAMS
        streams = try StreamTable(capacity: config.maxStreams)
        #endif
        outputKind = loop.register { token, _ in self.commandOutputReady(token) }
        #if !DBG_NO_SHELLS
        shellKind = loop.register { token, readiness in
            guard let (shell, connection) = self.shell(for: token) else { return }
            self.shellReady?(shell, connection, readiness)
        }
        #endif
        #if !DBG_NO_STREAMS
        streamKind = loop.register { token, _ in
            guard let (stream, connection) = self.stream(for: token) else { return }
            self.streamReady?(stream, connection)
        }
        #endif
    }

    /// Why a process was not started.
    enum StartError: Error {
        /// Every slot of its kind is taken (Busy).
        case noSlot(String)
        case launch(LaunchFailure)
    }

    // MARK: Commands

    /// Starts `spec` in a free command slot with its stdout and stderr captured (its `io`
    /// is replaced by the slot's pipes). It is posted for `reply` once reaped.
    func startCommand(_ spec: LaunchSpec, timeoutSeconds: Int64, reply: ReplyAddress) throws(StartError) {
        guard let index = commands.freeSlot else {
            throw .noSlot("all \(commands.capacity) command slots are in use; try again")
        }
        do throws(LaunchFailure) {
            try launchCaptured(index, spec)
        } catch {
            throw .launch(error)
        }
        let now = MonotonicClock.now()
        commands[index].state = .running
        commands[index].reply = reply
        commands[index].timeoutSeconds = timeoutSeconds
        commands[index].deadline = now + Milliseconds(timeoutSeconds) * 1000
        commands[index].exitCode = 0
        timer.schedule(commands[index].deadline)
    }

    /// Creates the pipes and the process; on success the loop watches the pipes.
    private func launchCaptured(_ index: Int, _ spec: LaunchSpec) throws(LaunchFailure) {
        let out = try ProcessHost.capturePipe()
        let err = try ProcessHost.capturePipe()
        var piped = spec
        piped.io = .pipes(stdout: spec.stdoutFile ?? out.write.descriptor, stderr: err.write.descriptor)
        // On a failure all four ends close here. After a start, the write ends close when
        // this returns (the child has its own copies), so the reads see the child's end.
        commands[index].pid = try ProcessLauncher.launch(piped)
        let readers = [out.read.descriptor, err.read.descriptor]
        commands[index].stdout.start(reading: out.read)
        commands[index].stderr.start(reading: err.read)
        for (stream, reader) in readers.enumerated() {
            try? reader.setNonblocking()
            // If epoll refuses, the pipe is still drained when the process is reaped. The
            // index says the slot and the stream: 2 * slot, + 1 for stderr.
            try? loop.add(reader, .readable, EventToken(outputKind, index: UInt32(2 * index + stream),
                                                        generation: commands[index].generation))
        }
    }

    static func capturePipe() throws(LaunchFailure) -> OwnedPipe {
        do throws(Errno) {
            return try OwnedPipe()
        } catch {
            throw LaunchFailure(stage: .stdio, errno: error)
        }
    }

    /// A pipe of a running command is readable.
    private func commandOutputReady(_ token: EventToken) {
        let index = Int(token.index / 2)
        guard index < commands.capacity, commands[index].state == .running,
              EventToken(outputKind, index: token.index, generation: commands[index].generation) == token else { return }
        if token.index % 2 == 0 {
            if commands[index].stdout.drain(discard: discard) { closePipe(&commands[index].stdout) }
        } else {
            if commands[index].stderr.drain(discard: discard) { closePipe(&commands[index].stderr) }
        }
    }

    private func closePipe(_ capture: inout OutputCapture) {
        guard let pipe = capture.pipe?.descriptor else { return }
        loop.remove(pipe)
        capture.pipe = nil
    }

    /// Frees a finished command's slot once its answer is queued.
    func releaseCommand(_ index: Int) { commands.release(index) }

    /// Only our own pids are waited for: the worker threads' PAM modules reap the
    /// helpers they start themselves.
    private func reapCommands() {
        for index in 0..<commands.capacity where commands[index].state == .running {
            var status: Int32 = 0
            guard waitpid(commands[index].pid, &status, CSYS_WNOHANG) == commands[index].pid else { continue }
            // What it wrote is in the pipes now. A child it left running (a daemon) may
            // keep them open: the answer does not wait for that.
            _ = commands[index].stdout.drain(discard: discard)
            _ = commands[index].stderr.drain(discard: discard)
            closePipe(&commands[index].stdout)
            closePipe(&commands[index].stderr)
            commands[index].exited(status: status)
            if commands[index].timedOut { commands[index].signalGroup(CSYS_SIGKILL) }
            if commands[index].reply.isDetached {
                commands.release(index)  // its connection is gone
            } else {
                completions.post(.command(index), for: commands[index].reply.connection)
            }
        }
    }

    /// Timeouts: SIGTERM to the group at the deadline, SIGKILL 2 s later. Returns the
    /// next deadline.
    private func expireCommands(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for index in 0..<commands.capacity where commands[index].state == .running {
            let due: Milliseconds
            if let killAt = commands[index].killAt {
                guard killAt != .max else { continue }
                if now >= killAt {
                    commands[index].signalGroup(CSYS_SIGKILL)
                    commands[index].killAt = .max  // killed; waiting to be reaped
                    continue
                }
                due = killAt
            } else if now >= commands[index].deadline {
                commands[index].signalGroup(CSYS_SIGTERM)
                commands[index].killAt = now + RunningCommand.killGraceMs
                due = now + RunningCommand.killGraceMs
            } else {
                due = commands[index].deadline
            }
            next = min(next ?? due, due)
        }
        return next
    }

    // MARK: Both

    /// SIGCHLD: reaps the commands and shells that exited and posts them.
    func reap() {
        reapCommands()
        #if !DBG_NO_SHELLS
        reapShells()
        #endif
        #if !DBG_NO_STREAMS
        reapStreams()
        #endif
        reapOthers()
        // What exited may have left descendants behind, or been one of them.
        timer.schedule(orphans.request(now: MonotonicClock.now()))
    }

    /// Runs what is due at `now` (timeouts, kills, the orphan sweep); returns the next
    /// deadline.
    func expire(now: Milliseconds) -> Milliseconds? {
        #if DBG_NO_SHELLS
        let shellsDue: Milliseconds? = nil
        #else
        let shellsDue = expireShells(now: now)
        #endif
        #if DBG_NO_STREAMS
        let streamsDue: Milliseconds? = nil
        #else
        let streamsDue = expireStreams(now: now)
        #endif
        return [expireCommands(now: now), shellsDue, streamsDue, orphans.sweepIfDue(now: now) { runningPIDs }]
            .compactMap { $0 }.min()
    }

    /// The pids of the commands and shells still running.
    private var runningPIDs: [Int32] {
        var pids = otherPIDs()
        for index in 0..<commands.capacity where commands[index].state == .running { pids.append(commands[index].pid) }
        #if !DBG_NO_SHELLS
        for index in 0..<shells.capacity where shells[index].state == .running { pids.append(shells[index].pid) }
        #endif
        #if !DBG_NO_STREAMS
        for index in 0..<streams.capacity where streams[index].state == .running { pids.append(streams[index].pid) }
        #endif
        return pids
    }

    /// A closed connection: its commands' groups are killed and forgotten once reaped,
    /// its shells hung up.
    func connectionClosed(_ connection: ConnectionRef) {
        #if !DBG_NO_SHELLS
        dropShells(of: connection)
        #endif
        #if !DBG_NO_STREAMS
        dropStreams(of: connection)
        #endif
        for index in 0..<commands.capacity where commands[index].reply.connection == connection {
            switch commands[index].state {
            case .running:
                commands[index].signalGroup(CSYS_SIGKILL)
                commands[index].reply.detach()  // freed when reaped
            case .finished:
                commands.release(index)
            case .free:
                break
            }
        }
    }

    /// Before the agent exits: every command's group is killed, every shell hung up,
    /// every orphan killed.
    func shutdown() {
        for index in 0..<commands.capacity where commands[index].state == .running {
            commands[index].signalGroup(CSYS_SIGKILL)
        }
        let now = MonotonicClock.now()
        #if !DBG_NO_SHELLS
        for index in 0..<shells.capacity { shells[index].hangUp(now: now) }
        #endif
        #if !DBG_NO_STREAMS
        for index in 0..<streams.capacity { streams[index].end(with: CSYS_SIGKILL, now: now) }
        #endif
        orphans.sweep(running: [])
    }

    var budgetBytes: Int {
        var total = commands.budgetBytes + discard.count
        #if !DBG_NO_SHELLS
        total += shells.budgetBytes
        #endif
        #if !DBG_NO_STREAMS
        total += streams.budgetBytes
        #endif
        return total
    }

    #if !DBG_NO_SHELLS
    /// A SessionID never handed out before (0 is skipped).
    func newShellID() -> UInt32 {
        lastShellID = lastShellID == UInt32.max ? 1 : lastShellID + 1
        return lastShellID
    }
    #endif
}

extension ProcessHost.StartError {
    /// What to tell the client: Busy, or why the launch failed.
    func serviceError(program: [UInt8], throughShell: Bool, container: ContainerSpec? = nil) -> ServiceError {
        switch self {
        case .noSlot(let reason): return ServiceError(.busy, reason)
        case .launch(let failure): return failure.describe(program: program, throughShell: throughShell, container: container)
        }
    }
}
