import CSys
import DbgWire

/// Why the service core could not do what a request asked, in the terms every front end
/// reports: the wire's error code, the errno behind it (0 when none) and one line for
/// the user. Each front end turns it into its own error reply.
struct ServiceError: Error, Equatable {
    let code: ErrorCode
    let errno: Int32
    let message: String

    init(_ code: ErrorCode, errno: Int32 = 0, _ message: String) {
        self.code = code
        self.errno = errno
        self.message = message
    }
}

extension ServiceError {
    /// An IO failure: `what` and the system's reason.
    static func io(_ what: String, _ error: Errno) -> ServiceError {
        ServiceError(.io, errno: error.code, what + ": " + error.message)
    }

    /// A failed file system call on `path`: ENOENT is NotFound, EACCES and EPERM Denied,
    /// EEXIST Exists, a refused file type BadRequest, the rest IO with the errno.
    init(_ error: Errno, path: [UInt8]) {
        let name = String(decoding: path, as: UTF8.self)
        if let type = error.refusedType {
            self.init(.badRequest, "Path: " + name + " is " + type.article
                + "; only regular files and devices are read and written, regular files and block devices hashed")
            return
        }
        let (code, what): (ErrorCode, StaticString)
        switch error.code {
        case CSYS_ENOENT: (code, what) = (.notFound, "no such file or directory: ")
        case CSYS_EACCES, CSYS_EPERM: (code, what) = (.denied, "permission denied: ")
        case CSYS_EEXIST: (code, what) = (.exists, "already exists: ")
        default:
            self.init(.io, errno: error.code, name + ": " + error.message)
            return
        }
        self.init(code, errno: error.code, what.text + name)
    }
}

extension Connection {
    /// Queues the error frame for a service error.
    mutating func fail(_ request: FrameHeader, _ error: ServiceError) {
        fail(request, error.code, errno: error.errno, error.message)
    }
}
