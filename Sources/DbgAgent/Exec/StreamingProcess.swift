import CSys

/// A process whose stdin, stdout and stderr are streams (ProcessStart), from its start
/// until its ProcessExit has been queued. Its output is read only while its connection
/// keeps up; its input waits here, at most `inputWindow` bytes, which the client may not
/// exceed (it is given back in credits as the process reads).
struct StreamingProcess: ~Copyable {
    enum State: Equatable {
        case free
        case running
        /// Reaped (its wait status): what is left in the pipes goes out, then the exit.
        case exited(status: Int32)
    }

    /// The streams, also the event token's index within a slot (3 * slot + stream).
    enum Stream: Int {
        case stdin = 0, stdout, stderr
    }

    /// Input a client may have in flight per process: the pending-input buffer's size.
    static let inputWindow = 256 << 10
    static let killGraceMs: Milliseconds = 2_000

    var state = State.free
    /// The ProcessID clients use; never reused while the agent runs.
    var id: UInt32 = 0
    /// Bumped on every reuse of the slot, so stale events are recognised.
    var generation: UInt32 = 0
    /// Also its process group (and with a terminal, its session).
    var pid: Int32 = 0
    /// Write end of its stdin (with a terminal, a duplicate of the master); nil once closed.
    var stdin: OwnedDescriptor?
    /// Read ends (with a terminal, stdout is the master and stderr nil); nil at their end.
    var stdout: OwnedDescriptor?
    var stderr: OwnedDescriptor?
    var terminal = false
    /// What epoll watches on each stream (nil: out of epoll), by `Stream` raw value.
    var registered: [Interest?] = [nil, nil, nil]
    var reply = ReplyAddress.none
    /// The login session that started it: the only one that may use it.
    var ownerSerial: UInt64 = 0
    /// Input received and not written to stdin yet, and its credits.
    var window: InputWindow
    /// ProcessCloseInput came: further input is the client's mistake.
    var inputClosed = false
    /// And stdin closes once the pending input is written.
    var inputEnding = false
    var deadline: Milliseconds?
    var timedOut = false
    /// After a timeout, a hang-up or a disconnect: when SIGKILL follows.
    var killAt: Milliseconds?

    init(inputBuffer: UnsafeMutableRawBufferPointer) { window = InputWindow(inputBuffer) }

    func descriptor(_ stream: Stream) -> FileDescriptor? {
        switch stream {
        case .stdin: return StreamingProcess.view(stdin)
        case .stdout: return StreamingProcess.view(stdout)
        case .stderr: return StreamingProcess.view(stderr)
        }
    }

    private static func view(_ owned: borrowing OwnedDescriptor?) -> FileDescriptor? {
        switch owned {
        case .some(let fd): return fd.descriptor
        case .none: return nil
        }
    }

    mutating func close(_ stream: Stream) {
        switch stream {
        case .stdin: stdin = nil
        case .stdout: stdout = nil
        case .stderr: stderr = nil
        }
        registered[stream.rawValue] = nil  // a closed descriptor leaves epoll with its close
    }

    /// Takes `bytes` of input (the caller checked the window's room): written now as far
    /// as stdin takes them, the rest kept. Once the process closed its stdin (or ended),
    /// what comes is dropped and credited.
    mutating func input(_ bytes: UnsafeRawBufferPointer) {
        if window.take(bytes, into: descriptor(.stdin)) != nil { inputFailed() }
    }

    /// Writes waiting input as far as stdin takes it; closes stdin when asked to and
    /// nothing waits any more.
    mutating func flushInput() {
        if let fd = descriptor(.stdin), window.flush(into: fd) != nil { return inputFailed() }
        if inputEnding && window.pending.isEmpty { endInput() }
    }

    /// The process closed its stdin (EPIPE) or it failed: what waits is moot, and is
    /// credited as taken so that the client is not left waiting.
    private mutating func inputFailed() {
        window.drop()
        close(.stdin)
    }

    /// End of input: the pipe closes (the process reads end of file); a terminal gets
    /// its end-of-file character instead and stays open.
    mutating func endInput() {
        inputEnding = false
        if terminal, let fd = stdin?.descriptor {
            let eof: UInt8 = 4  // VEOF, ^D
            _ = withUnsafeBytes(of: eof) { try? fd.write($0) }
        } else {
            close(.stdin)
        }
    }

    /// A signal to the process group (the session's leader's group with a terminal).
    func signal(_ number: Int32) { _ = kill(-pid, number) }

    /// SIGTERM or SIGHUP now, SIGKILL after the grace time (unless it is reaped first).
    mutating func end(with number: Int32, now: Milliseconds) {
        guard state == .running, killAt == nil else { return }
        signal(number)
        killAt = now + StreamingProcess.killGraceMs
    }
}
