import CSys
import DbgWire

/// A failed system call's errno, thrown by the typed syscall wrappers.
struct Errno: Error, Equatable {
    let code: Int32

    init(_ code: Int32) { self.code = code }

    /// The errno left by the call that just failed.
    static var current: Errno { Errno(csys_errno()) }

    static let interrupted = Errno(CSYS_EINTR)
    static let wouldBlock = Errno(CSYS_EAGAIN)
    static let noEntry = Errno(CSYS_ENOENT)
    static let accessDenied = Errno(CSYS_EACCES)
    static let notPermitted = Errno(CSYS_EPERM)
    static let exists = Errno(CSYS_EEXIST)
    static let notDirectory = Errno(CSYS_ENOTDIR)
    static let invalidArgument = Errno(CSYS_EINVAL)
    static let tooManySymlinks = Errno(CSYS_ELOOP)
    static let connectionAborted = Errno(CSYS_ECONNABORTED)
    static let tooManyOpenFiles = Errno(CSYS_EMFILE)
    static let tooManyOpenFilesInSystem = Errno(CSYS_ENFILE)
    /// The descriptor has no offsets (a pipe, a tty): pread and pwrite refuse it.
    static let illegalSeek = Errno(CSYS_ESPIPE)
    static let readOnlyFileSystem = Errno(CSYS_EROFS)

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

extension Errno {
    /// Not a system error: the agent refuses to open a file of this type for the
    /// operation (a FIFO, whose open or read could wait forever; a socket). Carried as an
    /// Errno, below every real code, so the file paths keep one error type.
    static func refusedType(_ type: Dbg.FileType) -> Errno { Errno(-1000 - Int32(type.rawValue)) }

    var refusedType: Dbg.FileType? { code <= -1000 ? Dbg.FileType(rawValue: UInt32(-1000 - code)) : nil }
}
