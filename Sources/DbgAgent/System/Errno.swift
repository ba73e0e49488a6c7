import CSys

/// A failed system call's errno, thrown by the typed syscall wrappers.
public struct Errno: Error, Equatable {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The errno left by the call that just failed.
    public static var current: Errno { Errno(csys_errno()) }

    public static let interrupted = Errno(CSYS_EINTR)
    public static let wouldBlock = Errno(CSYS_EAGAIN)

    public var message: String { String(cString: strerror(code)) }
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
