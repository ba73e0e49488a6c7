import CSys
import DbgWire

/// A login shell on a PTY (on the host, or inside the distro rootfs), from ShellOpen
/// until its ShellExit event has been queued.
struct InteractiveShell: ~Copyable {
    enum State: Equatable {
        case free
        case running
        /// Reaped: what is left in the PTY is relayed, then ShellExit.
        case exited(code: Int64)
    }

    static let killGraceMs: Milliseconds = 2_000

    var state = State.free
    /// The SessionID clients use; never reused while the agent runs.
    var id: UInt32 = 0
    /// Bumped on every reuse of the slot, so stale PTY events are recognised.
    var generation: UInt32 = 0
    /// Also its session and process group id.
    var pid: Int32 = 0
    /// The PTY's master; nil once closed (end of output, or the shell was dropped).
    var master: OwnedDescriptor?
    /// The connection it belongs to and its ShellOpen, whose service says whose ops reach
    /// it and whose events it sends.
    var reply = ReplyAddress.none
    /// The serial of the login session that opened it (0: none, a distro shell opened by
    /// a local peer). A dbg shell may be used only by that session, a distro shell only
    /// on its connection.
    var ownerSerial: UInt64 = 0
    /// Keystrokes the PTY could not take yet; while any wait, the connection's further
    /// frames wait too (nothing is dropped, nothing queues without bound).
    var pendingInput: ByteBuffer
    /// The PTY has reported end of output (every slave descriptor is closed).
    var outputEnded = false
    /// After ShellClose, Logout or disconnect: when SIGKILL follows the SIGHUP.
    var killAt: Milliseconds?
    /// What epoll watches on the master; nil when it is out of epoll altogether (a master
    /// whose slave is closed reports a hang-up on every poll, whatever it is watched for).
    var registered: Interest?

    init(inputBuffer: UnsafeMutableRawBufferPointer) { pendingInput = ByteBuffer(inputBuffer) }

    /// Writes as much of `bytes` as the PTY takes now and keeps the rest for later.
    /// Returns false, writing nothing, when earlier input still waits and the new bytes
    /// would not fit behind it (the connection holds its frames back so that this does
    /// not happen).
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Bool {
        if !pendingInput.isEmpty && !pendingInput.reserveWritable(bytes.count) { return false }
        var written = 0
        if pendingInput.isEmpty {
            do throws(Errno) {
                written = try openMaster().write(bytes)
            } catch {
                guard error == .wouldBlock else { throw error }
            }
        }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
        guard !rest.isEmpty else { return true }
        guard pendingInput.reserveWritable(rest.count) else { return false }  // holds a whole frame when empty
        pendingInput.writable.copyMemory(from: rest)
        pendingInput.didWrite(rest.count)
        return true
    }

    /// The master, for I/O: EBADF once it is closed, as the descriptor itself would say.
    func openMaster() throws(Errno) -> FileDescriptor {
        switch master {
        case .some(let owned): return owned.descriptor
        case .none: throw Errno(CSYS_EBADF)
        }
    }

    /// Sends waiting keystrokes to the PTY as far as it takes them.
    mutating func flushInput() throws(Errno) {
        while !pendingInput.isEmpty {
            do throws(Errno) {
                pendingInput.didRead(try openMaster().write(pendingInput.readable))
            } catch {
                if error == .wouldBlock { return }
                throw error
            }
        }
    }

    /// SIGHUP to the shell's session, as a terminal hang-up would; SIGKILL follows.
    mutating func hangUp(now: Milliseconds) {
        guard state == .running, killAt == nil else { return }
        _ = kill(-pid, CSYS_SIGHUP)
        killAt = now + InteractiveShell.killGraceMs
    }
}
