import CSys
import DbgWire

/// `--log-file PATH --log-size N`: the log is appended to PATH, which stands in for stderr
/// (so what the C library or a crash prints lands there too), and is moved to PATH.1 once
/// it has grown past N bytes. A board's log therefore never holds more than about 2 N.
final class LogFile {
    let path: String
    let limit: Int
    private var size: Int
    /// Log lines come from the loop and from worker threads: a line and the rotation it
    /// may trigger happen under one lock.
    private let lock: OpaquePointer

    /// Opens (or creates, 0640) PATH and puts it behind stderr.
    init(path: String, limit: Int) throws(ConfigError) {
        self.path = path
        self.limit = limit
        guard let lock = csys_monitor_new() else { throw ConfigError("--log-file: out of memory") }
        self.lock = lock
        do throws(Errno) {
            size = try LogFile.openBehindStderr(path)
        } catch {
            // (A FIFO without a reader fails to open with ENXIO rather than block.)
            let problem = error == Errno(CSYS_EINVAL) || error == Errno(CSYS_ENXIO) ? "not a regular file" : error.message
            throw ConfigError("--log-file \(path): \(problem)")
        }
    }

    /// Writes one whole line (one write(2)) and rotates when the file has passed the limit.
    func append(_ line: UnsafeRawBufferPointer) {
        csys_monitor_lock(lock)
        defer { csys_monitor_unlock(lock) }
        if let written = try? FileDescriptor(2).write(line) { size += written }
        if size >= limit { rotate() }
    }

    /// PATH becomes PATH.1 (replacing the one before) and a new PATH is started. A PATH
    /// that is gone (moved away by logrotate) is simply started anew. If that fails (a
    /// read-only or full file system), the file goes on growing and the next attempt
    /// waits for another `limit` bytes.
    private func rotate() {
        let renamed = path.withCString { from in (path + ".1").withCString { to in csys_renameat(CSYS_AT_FDCWD, from, CSYS_AT_FDCWD, to, 1) } } == 0
        do throws(Errno) {
            guard renamed || Errno.current == Errno(CSYS_ENOENT) else { throw .current }
            size = try LogFile.openBehindStderr(path)
        } catch {
            size = 0
            var line = "dbgd: cannot rotate \(path): \(error.message)\n"
            line.withUTF8 { bytes in _ = try? FileDescriptor(2).write(UnsafeRawBufferPointer(bytes)) }
        }
    }

    /// Opens `path` for appending, duplicates it onto descriptor 2; returns its size.
    private static func openBehindStderr(_ path: String) throws(Errno) -> Int {
        let fd = try retryingInterrupts { path.withCString { csys_open_log($0) } }
        defer { FileDescriptor(fd).close() }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .current }
        guard info.st_mode & CSYS_S_IFMT == CSYS_S_IFREG else { throw Errno(CSYS_EINVAL) }
        guard dup2(fd, 2) == 2 else { throw .current }
        return Int(info.st_size)
    }
}
