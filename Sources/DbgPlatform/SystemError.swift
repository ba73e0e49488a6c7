import CSys

/// A failed system call's errno, as the platform calls report it (each side wraps it in
/// its own error type).
public struct SystemError: Error, Equatable {
    public let code: Int32

    public init(_ code: Int32) { self.code = code }

    /// The errno the call that just failed left.
    static var current: SystemError { SystemError(csys_errno()) }
}
