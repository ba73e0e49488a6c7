import CSys

/// A failed system call's errno, thrown by the typed syscall wrappers.
struct Errno: Error, Equatable {
    let code: Int32

    init(_ code: Int32) { self.code = code }

    /// The errno left by the call that just failed.
    static var current: Errno { Errno(csys_errno()) }

    static let interrupted = Errno(CSYS_EINTR)
    static let wouldBlock = Errno(CSYS_EAGAIN)

    var message: String { String(cString: strerror(code)) }
}

/// Runs a syscall until it is not interrupted by a signal (the one place EINTR is retried).
@inline(__always)
func retryingInterrupts<T: BinaryInteger>(_ call: () -> T) throws(Errno) -> T {
    while true {
        let result = call()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}
