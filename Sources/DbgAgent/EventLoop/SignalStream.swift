import CSys

/// Signals delivered as readable events (signalfd) instead of async handlers, so that
/// SIGTERM and SIGCHLD are handled on the loop like any other input.
struct SignalStream: ~Copyable {
    let fd: FileDescriptor

    /// Blocks `signals` for the process and routes them to the descriptor.
    init(_ signals: [Int32]) throws(Errno) {
        let raw = signals.withUnsafeBufferPointer { csys_signalfd_for($0.baseAddress, Int32($0.count)) }
        if raw < 0 { throw .current }
        fd = FileDescriptor(raw)
    }

    deinit { fd.close() }

    /// The next pending signal number, or nil when none is pending.
    func next() -> Int32? {
        var info = signalfd_siginfo()
        let size = MemoryLayout<signalfd_siginfo>.size
        let got = withUnsafeMutableBytes(of: &info) { try? fd.read(into: $0) }
        guard got == size else { return nil }
        return Int32(bitPattern: info.ssi_signo)
    }
}
