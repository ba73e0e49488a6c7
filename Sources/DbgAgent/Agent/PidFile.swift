import CSys
import DbgWire

/// `--pidfile PATH`: claimed (an exclusive lock on the open file) before anything else is
/// set up, so a second dbgd given the same pidfile stops at once and names the first; the
/// pid is written only once the agent serves, so an init script that finds a pid there
/// finds a dbgd that listens; removed at a clean exit. The lock goes with the process, so
/// a pidfile left behind by `kill -9` does not stop the next start.
final class PidFile {
    let path: String
    private let file: OwnedDescriptor

    init(claiming path: String) throws(StartupError) {
        self.path = path
        let fd: Int32
        do throws(Errno) {
            fd = try retryingInterrupts { path.withCString { csys_open_pidfile($0) } }
        } catch {
            throw StartupError("--pidfile \(path): \(error.message)")
        }
        file = OwnedDescriptor(fd)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & CSYS_S_IFMT == CSYS_S_IFREG else {
            throw StartupError("--pidfile \(path): not a regular file")
        }
        guard flock(fd, CSYS_LOCK_EX_NB) == 0 else {
            let error = Errno.current
            guard error == Errno(CSYS_EWOULDBLOCK) else { throw StartupError("--pidfile \(path): cannot lock it: \(error.message)") }
            let holder = PidFile.recordedPid(file.descriptor)
            throw StartupError("dbgd is already running" + (holder.isEmpty ? "" : " (pid \(holder))") + " with --pidfile \(path)")
        }
    }

    /// Writes this process's pid ("1234\n"): the agent is ready.
    func record() throws(StartupError) {
        var text = "\(getpid())\n"
        let fd = file.rawValue
        let written = text.withUTF8 { bytes in ftruncate(fd, 0) == 0 ? pwrite(fd, bytes.baseAddress, bytes.count, 0) : -1 }
        guard written == text.utf8.count else { throw StartupError("--pidfile \(path): \(Errno.current.message)") }
    }

    /// Removes the file while still holding its lock (so no later dbgd's file is removed).
    /// The caller's use of it here also keeps the lock for the agent's whole life.
    func remove() { _ = path.withCString { unlink($0) } }

    /// The pid another dbgd wrote, as text ("" when there is none yet).
    private static func recordedPid(_ file: FileDescriptor) -> String {
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = buffer.withUnsafeMutableBytes { (try? file.read(into: $0, at: 0)) ?? 0 }
        return String(decoding: buffer.prefix(count).filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }, as: UTF8.self)
    }
}
