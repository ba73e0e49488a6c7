import CSys

/// The application's `main`: at most one instance, started and stopped on request,
/// restarted with a growing delay when it fails (`--app-restart on-failure`), its
/// stdout and stderr read by the loop into the log ring line by line. Stopping sends
/// SIGTERM to its process group and SIGKILL after the stop timeout.
final class AppSupervisor {
    enum State: Equatable {
        case stopped
        case running
        /// SIGTERM sent; SIGKILL at `killAt`.
        case stopping
        /// Failed; started again at `restartAt`.
        case waitingToRestart
    }

    /// How long after a failure the first restart comes; each failure in a row doubles it.
    static let firstBackoffMs: Milliseconds = 1_000
    static let maxBackoffMs: Milliseconds = 30_000
    /// A run at least this long ends a row of failures.
    static let healthyRunMs: Milliseconds = 30_000

    let log: LogRing
    let stopTimeoutMs: Milliseconds
    let restartOnFailure: Bool
    private(set) var state = State.stopped
    private(set) var pid: Int32 = 0
    /// When the current run (or the last state change) began, by the wall clock.
    private(set) var sinceWallMs: UInt64 = 0
    private(set) var restarts = 0
    /// The last exit's status as waitpid gave it; nil before the first.
    private(set) var lastStatus: Int32?
    private var startedAt: Milliseconds = 0
    private var failuresInARow = 0
    private var killAt: Milliseconds?
    private var restartAt: Milliseconds?
    /// The running process's stdout and stderr.
    private var stdoutPipe: OwnedDescriptor?
    private var stderrPipe: OwnedDescriptor?
    private var stdoutLines = LineAssembler()
    private var stderrLines = LineAssembler()
    private var generation: UInt32 = 0
    private let loop: EventLoop
    private let timer: DeadlineTimer
    private var pipeKind = EventToken.Kind.none
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 8)
    /// What to start (built anew each time: the app's files may have changed).
    private let spec: () throws(ServiceError) -> LaunchSpec
    /// Told of every change a waiting caller may care about: the process ended, a line
    /// arrived.
    var changed: () -> Void = {}
    /// Where starts, stops and restarts are also told (the HTTP API's news).
    var news: NewsRing?

    init(log: LogRing, stopTimeoutMs: Milliseconds, restartOnFailure: Bool, loop: EventLoop, timer: DeadlineTimer,
         spec: @escaping () throws(ServiceError) -> LaunchSpec) {
        self.log = log
        self.stopTimeoutMs = stopTimeoutMs
        self.restartOnFailure = restartOnFailure
        self.loop = loop
        self.timer = timer
        self.spec = spec
        pipeKind = loop.register { token, _ in self.pipeReady(token) }
    }

    deinit { readBuffer.deallocate() }

    var isRunning: Bool { state == .running || state == .stopping }

    /// Starts main unless it runs already; a pending restart happens now.
    func start() throws(ServiceError) {
        guard !isRunning else { return }
        var launch = try spec()
        do throws(LaunchFailure) {
            let out = try ProcessHost.capturePipe()
            let err = try ProcessHost.capturePipe()
            launch.io = .pipes(stdout: out.write.descriptor, stderr: err.write.descriptor)
            pid = try ProcessLauncher.launch(launch)
            generation &+= 1
            watch(out.readEnd(), stream: .stdout)
            watch(err.readEnd(), stream: .stderr)
        } catch {
            throw error.describe(program: launch.argv[0], throughShell: false)
        }
        state = .running
        restartAt = nil
        startedAt = MonotonicClock.now()
        sinceWallMs = csys_wall_ms()
        tell("main started (pid " + String(pid) + ")")
        changed()
    }

    private func watch(_ pipe: consuming OwnedDescriptor, stream: LogRing.Stream) {
        let fd = pipe.descriptor
        try? fd.setNonblocking()
        if stream == .stdout { stdoutPipe = .some(pipe) } else { stderrPipe = .some(pipe) }
        // Without epoll the pipe is still read when main is reaped.
        try? loop.add(fd, .readable, EventToken(pipeKind, index: UInt32(stream.rawValue), generation: generation))
    }

    /// SIGTERM to main's group now, SIGKILL after the stop timeout; no restart follows.
    func stop() {
        switch state {
        case .running:
            _ = kill(-pid, CSYS_SIGTERM)
            state = .stopping
            let due = MonotonicClock.now() + stopTimeoutMs
            killAt = due
            timer.schedule(due)
            tell("main stopping (SIGTERM to process group " + String(pid) + ")")
        case .waitingToRestart:
            restartAt = nil
            state = .stopped
            changed()
        case .stopping, .stopped:
            break
        }
    }

    /// SIGCHLD: reaps main if it exited.
    func reap() {
        guard isRunning else { return }
        var status: Int32 = 0
        guard waitpid(pid, &status, CSYS_WNOHANG) == pid else { return }
        readPipe(.stdout, untilEnd: true)
        readPipe(.stderr, untilEnd: true)
        lastStatus = status
        killAt = nil
        let now = MonotonicClock.now()
        let failed = state == .running && !(csys_term_signal(status) == 0 && csys_exit_code(status) == 0)
        tell("main exited: " + AppSupervisor.describe(status))
        // A process it left in its group goes with it.
        _ = kill(-pid, CSYS_SIGKILL)
        sinceWallMs = csys_wall_ms()
        if failed && restartOnFailure {
            failuresInARow = now - startedAt >= AppSupervisor.healthyRunMs ? 1 : failuresInARow + 1
            let delay = min(AppSupervisor.maxBackoffMs, AppSupervisor.firstBackoffMs << Milliseconds(min(failuresInARow - 1, 16)))
            restartAt = now + delay
            timer.schedule(now + delay)
            state = .waitingToRestart
            tell("restarting main in " + String(delay) + " ms")
        } else {
            state = .stopped
            failuresInARow = 0
        }
        changed()
    }

    /// Runs what is due (the SIGKILL after a stop timeout, a restart); returns the next deadline.
    func expire(now: Milliseconds) -> Milliseconds? {
        if let due = killAt {
            guard now >= due else { return due }
            _ = kill(-pid, CSYS_SIGKILL)
            killAt = nil
            tell("main did not stop within " + String(stopTimeoutMs) + " ms: SIGKILL")
        }
        if let due = restartAt {
            guard now >= due else { return due }
            restartAt = nil
            restarts += 1
            state = .stopped
            do throws(ServiceError) {
                try start()
            } catch {
                tell("cannot restart main: " + error.message)
                changed()
            }
        }
        return restartAt ?? killAt
    }

    /// Before the agent exits: main's group is killed.
    func shutdown() {
        if isRunning { _ = kill(-pid, CSYS_SIGKILL) }
    }

    /// A line of the agent's own in the log ring, and news.
    private func tell(_ text: String) {
        log.append(text, stream: .agent)
        news?.add(.app, "app: " + text)
    }

    /// "status 3", "signal 9".
    static func describe(_ status: Int32) -> String {
        let signal = csys_term_signal(status)
        return signal != 0 ? "signal " + String(signal) : "status " + String(csys_exit_code(status))
    }

    private func pipeReady(_ token: EventToken) {
        guard token.generation == generation, let stream = LogRing.Stream(rawValue: UInt8(token.index)) else { return }
        readPipe(stream, untilEnd: false)
    }

    /// Reads what the pipe holds into the ring; at its end (or `untilEnd`, once main is
    /// gone) the last partial line goes in and the pipe closes.
    private func readPipe(_ stream: LogRing.Stream, untilEnd: Bool) {
        guard let fd = (stream == .stdout ? stdoutPipe?.descriptor : stderrPipe?.descriptor) else { return }
        var ended = untilEnd
        var any = false
        // Bounded, so that a chatty main cannot hold the loop.
        for _ in 0..<16 {
            do throws(Errno) {
                let got = try fd.read(into: readBuffer)
                if got == 0 {
                    ended = true
                    break
                }
                any = true
                let bytes = UnsafeRawBufferPointer(rebasing: readBuffer[0..<got])
                if stream == .stdout { stdoutLines.feed(bytes, into: log, stream: stream) } else { stderrLines.feed(bytes, into: log, stream: stream) }
            } catch {
                if error != .wouldBlock { ended = true }
                break
            }
        }
        if ended {
            loop.remove(fd)
            if stream == .stdout {
                stdoutLines.flush(into: log, stream: stream)
                stdoutPipe = nil
            } else {
                stderrLines.flush(into: log, stream: stream)
                stderrPipe = nil
            }
        }
        if any || ended { changed() }
    }
}
