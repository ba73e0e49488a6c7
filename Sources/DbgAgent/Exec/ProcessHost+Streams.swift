import CSys
import DbgWire

/// The fixed table of streaming processes (`--max-streams`), each with a pending-input
/// buffer of one input window.
typealias StreamTable = SlotTable<StreamingProcess>

extension SlotTable where Slot == StreamingProcess {
    init(capacity: Int) throws(Errno) {
        try self.init(capacity: capacity, bufferBytes: StreamingProcess.inputWindow) { _, memory in
            StreamingProcess(inputBuffer: memory)
        }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    /// The slot of the live process with this ProcessID.
    func index(of id: UInt32) -> Int? { (0..<capacity).first { self[$0].state != .free && self[$0].id == id } }
}

extension ProcessHost {
    /// A ProcessID issued earlier whose process is gone (exited and told): what a one-way
    /// request racing with the exit names. (After 2^32 starts the ids wrap; such a late
    /// request is then answered NotFound, as any unknown id is.)
    func hasEnded(process id: UInt32) -> Bool { id != 0 && id <= lastProcessID && streams.index(of: id) == nil }
}

/// Streaming processes: stdin, stdout and stderr are pipes (or one PTY) that the loop
/// watches, stdout and stderr only while the connection keeps up, stdin while input
/// waits. The front end relays the output and the credits (it owns the frame layouts);
/// a reaped process is posted, and its front end relays what is left, tells of the exit
/// and frees the slot.
extension ProcessHost {
    /// Starts `spec` in a free stream slot, on pipes or (with `terminal`) on a new PTY;
    /// returns the slot. `timeoutSeconds` 0: no limit.
    func startStream(_ spec: LaunchSpec, terminal: (rows: UInt16, cols: UInt16)?, timeoutSeconds: Int64,
                     ownerSerial: UInt64, reply: ReplyAddress) throws(StartError) -> Int {
        guard let index = streams.freeSlot else { throw .noSlot("all \(streams.capacity) streaming processes are running") }
        do throws(LaunchFailure) {
            if let terminal {
                try launchOnTerminal(index, spec, terminal)
            } else {
                try launchOnPipes(index, spec)
            }
        } catch {
            throw .launch(error)
        }
        let now = MonotonicClock.now()
        lastProcessID = lastProcessID == UInt32.max ? 1 : lastProcessID + 1
        streams[index].state = .running
        streams[index].id = lastProcessID
        streams[index].reply = reply
        streams[index].ownerSerial = ownerSerial
        streams[index].terminal = terminal != nil
        streams[index].deadline = timeoutSeconds > 0 ? now + Milliseconds(timeoutSeconds) * 1000 : nil
        if let deadline = streams[index].deadline { timer.schedule(deadline) }
        for stream in [StreamingProcess.Stream.stdin, .stdout, .stderr] {
            guard let fd = streams[index].descriptor(stream) else { continue }
            try? fd.setNonblocking()
            // Bulk data moves in larger steps through a larger pipe (best effort: the
            // kernel caps it at /proc/sys/fs/pipe-max-size for users).
            if terminal == nil { _ = csys_set_pipe_size(fd.rawValue, Int32(StreamRelay.outputChunk)) }
        }
        return index
    }

    private func launchOnPipes(_ index: Int, _ spec: LaunchSpec) throws(LaunchFailure) {
        let input = try ProcessHost.capturePipe()
        let out = try ProcessHost.capturePipe()
        let err = try ProcessHost.capturePipe()
        var piped = spec
        piped.io = .pipes(stdout: out.write.descriptor, stderr: err.write.descriptor)
        piped.stdin = input.read.descriptor
        // The child's ends close here when this returns (it has its own copies).
        streams[index].pid = try ProcessLauncher.launch(piped)
        streams[index].stdin = .some(input.write)
        streams[index].stdout = .some(out.read)
        streams[index].stderr = .some(err.read)
    }

    private func launchOnTerminal(_ index: Int, _ spec: LaunchSpec, _ size: (rows: UInt16, cols: UInt16)) throws(LaunchFailure) {
        let launched = try ProcessHost.launchOnNewTerminal(spec, rows: size.rows, cols: size.cols)
        // Input goes through a duplicate, so that epoll can watch it apart from the output.
        // Without one, the process started for nothing: it is killed (the orphan sweep
        // reaps it) and the start fails.
        let input = csys_dup_cloexec(launched.master.rawValue)
        guard input >= 0 else {
            let error = Errno.current
            _ = kill(-launched.pid, CSYS_SIGKILL)
            throw LaunchFailure(stage: .terminal, errno: error)
        }
        streams[index].pid = launched.pid
        streams[index].stdin = .some(OwnedDescriptor(input))
        streams[index].stdout = .some(launched.master)
        streams[index].stderr = nil
    }

    // MARK: Events

    func streamToken(_ index: Int, _ stream: StreamingProcess.Stream) -> EventToken {
        EventToken(streamKind, index: UInt32(3 * index + stream.rawValue), generation: streams[index].generation)
    }

    /// The stream slot an event is for and its connection; nil for a stale event.
    func stream(for token: EventToken) -> (index: Int, connection: ConnectionRef)? {
        let index = Int(token.index / 3)
        guard index < streams.capacity, streams[index].state != .free,
              let stream = StreamingProcess.Stream(rawValue: Int(token.index % 3)), streamToken(index, stream) == token,
              !streams[index].reply.isDetached else { return nil }
        return (index, streams[index].reply.connection)
    }

    /// Watches stdout and stderr while the connection has room (`outputRoom`), stdin
    /// while input waits.
    func updateInterest(ofStream index: Int, outputRoom: Bool) {
        guard streams[index].state != .free, !streams[index].reply.isDetached else { return }
        let inputWaits = !streams[index].window.pending.isEmpty
        watch(index, .stdin, inputWaits ? .writable : nil)
        watch(index, .stdout, outputRoom ? .readable : nil)
        watch(index, .stderr, outputRoom ? .readable : nil)
    }

    /// The same for every stream of a connection, after its output moved.
    func updateInterest(ofStreamsOf connection: ConnectionRef, outputRoom: Bool) {
        for index in 0..<streams.capacity where streams[index].reply.connection == connection {
            updateInterest(ofStream: index, outputRoom: outputRoom)
        }
    }

    private func watch(_ index: Int, _ stream: StreamingProcess.Stream, _ interest: Interest?) {
        guard let fd = streams[index].descriptor(stream) else { return }
        streams[index].registered[stream.rawValue] = loop.update(fd, from: streams[index].registered[stream.rawValue],
                                                                  to: interest, streamToken(index, stream))
    }

    /// A stream leaves epoll and closes: output at its end (or failed), or everything
    /// when the slot is freed or its connection is gone.
    func closeStream(_ index: Int, _ stream: StreamingProcess.Stream) {
        watch(index, stream, nil)
        streams[index].close(stream)
    }

    // MARK: Ends

    func reapStreams() {
        for index in 0..<streams.capacity where streams[index].state == .running {
            var status: Int32 = 0
            guard waitpid(streams[index].pid, &status, CSYS_WNOHANG) == streams[index].pid else { continue }
            streams[index].state = .exited(status: status)
            if streams[index].reply.isDetached {
                releaseStream(index)
            } else {
                completions.post(.processExit(index), for: streams[index].reply.connection)
            }
        }
    }

    /// Timeouts (SIGTERM, then SIGKILL) and the SIGKILL after a hang-up; returns the
    /// next deadline.
    func expireStreams(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for index in 0..<streams.capacity where streams[index].state == .running {
            if let deadline = streams[index].deadline, now >= deadline {
                streams[index].deadline = nil
                streams[index].timedOut = true
                streams[index].end(with: CSYS_SIGTERM, now: now)
            }
            if let killAt = streams[index].killAt, killAt != .max, now >= killAt {
                streams[index].signal(CSYS_SIGKILL)
                streams[index].killAt = .max  // killed; waiting to be reaped
            }
            for due in [streams[index].deadline, streams[index].killAt] {
                if let due, due != .max { next = min(next ?? due, due) }
            }
        }
        return next
    }

    /// Disconnect or Logout: SIGHUP to the group, SIGKILL after the grace time; a
    /// process whose connection is gone is forgotten once reaped.
    func hangUp(stream index: Int, detach: Bool) {
        if streams[index].state == .running {
            streams[index].end(with: CSYS_SIGHUP, now: MonotonicClock.now())
            if let killAt = streams[index].killAt, killAt != .max { timer.schedule(killAt) }
        }
        guard detach else { return }
        if case .exited = streams[index].state {
            releaseStream(index)
        } else {
            for stream in [StreamingProcess.Stream.stdin, .stdout, .stderr] { closeStream(index, stream) }
            streams[index].window.reset()
            streams[index].reply.detach()
        }
    }

    func dropStreams(of connection: ConnectionRef) {
        for index in 0..<streams.capacity where streams[index].state != .free && streams[index].reply.connection == connection {
            hangUp(stream: index, detach: true)
        }
    }

    func hangUpStreams(ofSession serial: UInt64) {
        for index in 0..<streams.capacity where streams[index].state == .running && streams[index].ownerSerial == serial {
            hangUp(stream: index, detach: false)
        }
    }

    /// Frees a slot once its exit has been told (or nobody is left to tell).
    func releaseStream(_ index: Int) {
        for stream in [StreamingProcess.Stream.stdin, .stdout, .stderr] { closeStream(index, stream) }
        streams[index].state = .free
        streams[index].reply = .none
        streams[index].killAt = nil
        streams[index].deadline = nil
        streams[index].timedOut = false
        streams[index].inputEnding = false
        streams[index].inputClosed = false
        streams[index].ownerSerial = 0
        streams[index].window.reset()
        streams[index].generation &+= 1
        streams.releasePages(index)
    }
}
