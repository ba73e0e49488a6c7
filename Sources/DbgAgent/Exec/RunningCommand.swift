import CSys
import DbgWire

/// A RunCommand, RunShell or distro Run from its start until its answer is queued.
struct RunningCommand: ~Copyable {
    enum State {
        case free
        /// The process has not been reaped yet.
        case running
        /// Reaped; the answer waits for room in the connection's transmit buffer.
        case finished
    }

    static let killGraceMs: Milliseconds = 2_000

    var state = State.free
    /// Bumped on every reuse of the slot, so stale pipe events are recognised.
    var generation: UInt32 = 0
    /// Also the process group id: the child leads its own group.
    var pid: Int32 = 0
    var stdout: OutputCapture
    var stderr: OutputCapture
    /// Who gets the answer (its request's service says which answer).
    var reply = ReplyAddress.none
    var timeoutSeconds: Int64 = 0
    var deadline: Milliseconds = 0
    /// After a timeout: when SIGTERM has had its chance and SIGKILL follows.
    var killAt: Milliseconds?
    var exitCode: Int64 = 0

    init(stdout: UnsafeMutableRawBufferPointer, stderr: UnsafeMutableRawBufferPointer) {
        self.stdout = OutputCapture(buffer: stdout)
        self.stderr = OutputCapture(buffer: stderr)
    }

    var timedOut: Bool { killAt != nil }

    /// Records the exit status; a timed-out command is 124 whatever killed it.
    mutating func exited(status: Int32) {
        exitCode = timedOut ? 124 : Int64(csys_exit_code(status))
        if timedOut { stderr.end(with: Array("dbgd: timed out after \(timeoutSeconds) s\n".utf8)) }
        state = .finished
    }

    /// Signals the whole process group.
    func signalGroup(_ signal: Int32) { _ = kill(-pid, signal) }
}
