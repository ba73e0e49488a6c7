import DbgClient
import Glibc

/// Writes all of `bytes` to `fd` (a short write is continued); `what` names the target
/// in the error.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, to what: String) throws(ClientError) {
    var written = 0
    while written < bytes.count {
        let count = write(fd, bytes.baseAddress! + written, bytes.count - written)
        if count < 0 && errno == EINTR { continue }  // a signal (SIGWINCH, SIGCHLD) is not a failure
        guard count > 0 else { throw .io("writing \(what): \(String(cString: strerror(errno)))") }
        written += count
    }
}
