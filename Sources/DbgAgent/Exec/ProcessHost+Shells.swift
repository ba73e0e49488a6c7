import CSys
import DbgWire

/// Shells: a program on a new PTY whose master the loop watches for output only while
/// its connection keeps up (back-pressure), and for room while keystrokes wait. The
/// front end relays the output (it owns the frame layout); a reaped shell is posted,
/// and its front end relays what is left before it tells of the exit and frees it.
extension ProcessHost {
    /// Starts `spec` on a new PTY in a free shell slot; returns the slot.
    /// `ownerSerial`: the login session that may use it (0: its connection alone).
    func startShell(_ spec: LaunchSpec, rows: UInt16, cols: UInt16, ownerSerial: UInt64,
                    reply: ReplyAddress) throws(StartError) -> Int {
        guard let index = shells.freeSlot else { throw .noSlot("all \(shells.capacity) shells are in use") }
        let launched: TerminalLaunch
        do throws(LaunchFailure) {
            launched = try ProcessHost.launchOnNewTerminal(spec, rows: rows, cols: cols)
        } catch {
            throw .launch(error)
        }
        shells[index].state = .running
        shells[index].id = newShellID()
        shells[index].pid = launched.pid
        shells[index].master = .some(launched.master)
        shells[index].reply = reply
        shells[index].ownerSerial = ownerSerial
        return index
    }

    /// The slot of the running shell `id` that was opened through `service`.
    func runningShell(_ id: UInt32, service: UInt32) -> Int? {
        guard let index = shells.index(of: id), shells[index].state == .running,
              shells[index].reply.request.service == service else { return nil }
        return index
    }

    /// Keystrokes: as many as the PTY takes now, the rest kept for later. Returns false,
    /// taking nothing, while earlier input still waits (see `inputIsBlocked`).
    func writeInput(_ bytes: UnsafeRawBufferPointer, toShell index: Int) throws(Errno) -> Bool {
        try shells[index].write(bytes)
    }

    /// Whether input for shell `id` must wait: earlier input for it still waits for the
    /// PTY (in order, and nothing queues without bound).
    func inputIsBlocked(shell id: UInt32) -> Bool {
        guard let index = shells.index(of: id) else { return false }
        return !shells[index].pendingInput.isEmpty
    }

    /// The kernel sends SIGWINCH to the terminal's foreground process group.
    func resize(shell index: Int, rows: UInt16, cols: UInt16) throws(Errno) {
        guard csys_set_window_size(try shells[index].openMaster().rawValue, rows, cols) == 0 else { throw .current }
    }

    /// The terminal's line discipline: `pipe` is `stty raw icrnl isig -echo`, else
    /// `stty sane`.
    func setTerminalMode(shell index: Int, pipe: Bool) throws(Errno) {
        let mode = pipe ? Int32(CSYS_TERMINAL_PIPE) : Int32(CSYS_TERMINAL_SANE)
        guard csys_set_terminal_mode(try shells[index].openMaster().rawValue, mode) == 0 else { throw .current }
    }

    /// SIGHUP to the shell's session, SIGKILL after the grace time; its exit is still
    /// posted.
    func hangUp(shell index: Int) {
        shells[index].hangUp(now: MonotonicClock.now())
        if let killAt = shells[index].killAt { timer.schedule(killAt) }
    }

    /// Logout: the session's shells are hung up.
    func hangUpShells(ofSession serial: UInt64) {
        for index in 0..<shells.capacity where shells[index].ownerSerial == serial && shells[index].state == .running {
            hangUp(shell: index)
        }
    }

    // MARK: PTY events

    private func shellToken(_ index: Int) -> EventToken {
        EventToken(shellKind, index: UInt32(index), generation: shells[index].generation)
    }

    /// The shell a PTY event is for and its connection; nil for a stale event.
    func shell(for token: EventToken) -> (index: Int, connection: ConnectionRef)? {
        let index = Int(token.index)
        guard index < shells.capacity, shells[index].state != .free, shellToken(index) == token,
              !shells[index].reply.isDetached else { return nil }
        return (index, shells[index].reply.connection)
    }

    /// The PTY took what it could of the waiting keystrokes; returns whether none wait
    /// any more (the connection's held-back frames may go on).
    func flushInput(ofShell index: Int) -> Bool {
        guard !shells[index].pendingInput.isEmpty else { return false }
        do throws(Errno) {
            try shells[index].flushInput()
        } catch {
            shells[index].pendingInput.clear()  // the terminal is gone
        }
        return shells[index].pendingInput.isEmpty
    }

    /// Every slave descriptor is closed: the master would report a hang-up on every poll
    /// from now on, so it leaves epoll; waiting input is moot.
    func outputEnded(ofShell index: Int) {
        shells[index].outputEnded = true
        shells[index].pendingInput.clear()
        watch(index, nil)
    }

    /// Out of epoll until its connection catches up (a hang-up is reported whatever the
    /// master is watched for, so only leaving epoll stops it).
    func pauseOutput(ofShell index: Int) { watch(index, nil) }

    /// Watches the PTY for output while its connection has room (`outputRoom`), and for
    /// room in the PTY while keystrokes wait.
    func updateInterest(ofShell index: Int, outputRoom: Bool) {
        guard shells[index].state != .free, !shells[index].outputEnded, !shells[index].reply.isDetached else { return }
        var wanted = Interest()
        if outputRoom { wanted.insert(.readable) }
        if !shells[index].pendingInput.isEmpty { wanted.insert(.writable) }
        watch(index, wanted.isEmpty ? nil : wanted)
    }

    /// The same for every shell of a connection, after its output moved.
    func updateInterest(ofShellsOf connection: ConnectionRef, outputRoom: Bool) {
        for index in 0..<shells.capacity where shells[index].reply.connection == connection {
            updateInterest(ofShell: index, outputRoom: outputRoom)
        }
    }

    /// Puts the master in epoll with `interest`, or takes it out (nil).
    private func watch(_ index: Int, _ interest: Interest?) {
        guard let master = shells[index].master?.descriptor else {
            shells[index].registered = nil  // a closed descriptor leaves epoll with its close
            return
        }
        shells[index].registered = loop.update(master, from: shells[index].registered, to: interest, shellToken(index))
    }

    // MARK: Ends

    func reapShells() {
        for index in 0..<shells.capacity where shells[index].state == .running {
            var status: Int32 = 0
            guard waitpid(shells[index].pid, &status, CSYS_WNOHANG) == shells[index].pid else { continue }
            shells[index].state = .exited(code: Int64(csys_exit_code(status)))
            shells[index].pendingInput.clear()  // nobody will read it now
            if shells[index].reply.isDetached {
                releaseShell(index)
            } else {
                completions.post(.shellExit(index), for: shells[index].reply.connection)
            }
        }
    }

    /// SIGKILL for hung-up shells that are still alive after the grace time.
    func expireShells(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for index in 0..<shells.capacity where shells[index].state == .running {
            guard let killAt = shells[index].killAt, killAt != .max else { continue }
            if now >= killAt {
                _ = kill(-shells[index].pid, CSYS_SIGKILL)
                shells[index].killAt = .max
            } else {
                next = min(next ?? killAt, killAt)
            }
        }
        return next
    }

    /// Disconnect: the connection's shells are hung up and forgotten once reaped.
    func dropShells(of connection: ConnectionRef) {
        for index in 0..<shells.capacity where shells[index].reply.connection == connection {
            if shells[index].state == .running {
                hangUp(shell: index)
                closeMaster(index)
                shells[index].reply.detach()
            } else {
                releaseShell(index)
            }
        }
    }

    private func closeMaster(_ index: Int) {
        guard shells[index].master != nil else { return }
        watch(index, nil)
        shells[index].master = nil
        shells[index].outputEnded = true
    }

    /// Frees an exited shell's slot once its exit has been told.
    func releaseShell(_ index: Int) {
        closeMaster(index)
        shells.release(index)
    }
}
