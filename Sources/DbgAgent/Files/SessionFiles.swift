import CSys
import DbgWire

/// File operations for a logged-in session, as its user, for every front end: the checks
/// on what a request names (paths, offsets, modes), the calls themselves, and the open
/// descriptors kept between the chunks of a transfer. What may wait on slow storage
/// (hashing, syncing, removing a tree) becomes a file job whose answer is posted.
///
/// Nothing here blocks the loop: every open of a user path is non-blocking and walked
/// component by component (PathWalk); FIFOs and sockets are refused where they would be
/// read or written.
final class SessionFiles {
    /// The largest offset a file can have (off_t is signed 64-bit); offsets from a peer
    /// are unsigned and checked against it before any conversion.
    static let maxFileOffset = UInt64(Int64.max)

    private var openFiles = OpenFileCache(capacity: 32)
    private let jobs: FileJobs
    private let timer: DeadlineTimer

    init(jobs: FileJobs, timer: DeadlineTimer) {
        self.jobs = jobs
        self.timer = timer
    }

    /// What an operation that may become a file job did.
    enum Outcome {
        case done
        /// Handed to a file job: the answer is posted when it is done.
        case posted
    }

    // MARK: Checks

    /// The path a request names, made absolute (relative paths are under the home).
    static func path(_ path: WireBytes, of session: Session, field: StaticString = "Path") throws(ServiceError) -> [UInt8] {
        if path.isEmpty { throw ServiceError(.badRequest, field.text + ": empty") }
        if path.containsNUL { throw ServiceError(.badRequest, field.text + ": contains a NUL byte") }
        return UserFiles.resolve(path.bytes, home: session.user.account.home)
    }

    /// A request's Mode: 0 is `defaultMode`; bits beyond the permissions, set-id and
    /// sticky bits (07777) are BadRequest.
    static func mode(_ mode: UInt32, default defaultMode: UInt32) throws(ServiceError) -> UInt32 {
        guard mode <= 0o7777 else {
            throw ServiceError(.badRequest, "Mode: 0" + String(mode, radix: 8) + " has bits beyond 07777 (permissions, set-id, sticky)")
        }
        return mode == 0 ? defaultMode : mode
    }

    /// An Offset (and a Length after it) that a file can have.
    static func checkRange(offset: UInt64, length: UInt64 = 0) throws(ServiceError) {
        guard offset <= maxFileOffset else {
            throw ServiceError(.badRequest, "Offset: " + String(offset) + " is past the largest file offset (2^63 - 1)")
        }
        guard length <= maxFileOffset - offset else {
            throw ServiceError(.badRequest, "Length: " + String(length) + " from Offset " + String(offset) + " reaches past the largest file offset (2^63 - 1)")
        }
    }

    // MARK: Operations

    func stat(_ path: [UInt8], as session: Session) throws(ServiceError) -> Dbg.FileInfo {
        try SessionFiles.asUser(session, path) { () throws(Errno) in try FileTree.info(path) }
    }

    func list(_ path: [UInt8], cookie: UInt64, byteLimit: Int, as session: Session) throws(ServiceError) -> Dbg.DirPage {
        guard cookie <= SessionFiles.maxFileOffset else {
            throw ServiceError(.badRequest, "Cookie: " + String(cookie) + " is not one ListDir gave (above 2^63 - 1)")
        }
        return try SessionFiles.asUser(session, path) { () throws(Errno) in
            try FileTree.list(path, cookie: cookie, byteLimit: byteLimit)
        }
    }

    func makeDirectory(_ path: [UInt8], mode: UInt32, parents: Bool, as session: Session) throws(ServiceError) {
        try SessionFiles.asUser(session, path) { () throws(Errno) in try FileTree.makeDirectory(path, mode: mode, parents: parents) }
    }

    /// A tree may be large: removing one is a file job, so the loop never waits for it.
    func remove(_ path: [UInt8], recursive: Bool, as session: Session, reply: ReplyAddress) throws(ServiceError) -> Outcome {
        openFiles.close { _, cached in cached.starts(with: path) }
        if recursive {
            try submit(.removeTree, path: path, reportedAs: path, session, reply)
            return .posted
        }
        try SessionFiles.asUser(session, path) { () throws(Errno) in try FileTree.remove(path, recursive: false) }
        return .done
    }

    /// A regular file is synced (and so is the target's directory after the rename) by a
    /// file job before the answer: a pushed file that has its final name keeps its bytes
    /// through a power cut, and slow flash never holds the loop up.
    func rename(_ from: [UInt8], to: [UInt8], replace: Bool, as session: Session,
                reply: ReplyAddress) throws(ServiceError) -> Outcome {
        openFiles.close { _, cached in cached == from || cached == to }
        if let info = try? stat(from, as: session), info.type == Dbg.FileType.regular.rawValue {
            try submit(.syncAndRename(to: to, replace: replace), path: from, reportedAs: to, session, reply)
            return .posted
        }
        try SessionFiles.asUser(session, to) { () throws(Errno) in try FileTree.rename(from, to, replace: replace) }
        return .done
    }

    /// SHA-256 of `length` bytes from `offset` (0: to the end), by a file job.
    func hash(_ path: [UInt8], offset: UInt64, length: UInt64, as session: Session, reply: ReplyAddress) throws(ServiceError) {
        try SessionFiles.checkRange(offset: offset, length: length)
        try submit(.hash(offset: offset, length: length), path: path, reportedAs: path, session, reply)
    }

    private func submit(_ work: FileWork, path: [UInt8], reportedAs: [UInt8], _ session: Session,
                        _ reply: ReplyAddress) throws(ServiceError) {
        let identity = UserEnvironment.identity(for: session.user.account)
        if let busy = jobs.submit(work, path: path, reportedAs: reportedAs, as: identity, reply: reply) {
            throw ServiceError(.busy, busy)
        }
    }

    // MARK: Transfers

    /// The session's open descriptor for `path`, from the cache or opened as the user (and
    /// cached until unused for a while, or until the session ends).
    func descriptor(_ path: [UInt8], for purpose: UserFiles.Purpose, mode: UInt32,
                    as session: Session) throws(ServiceError) -> FileDescriptor {
        let account = session.user.account
        let now = MonotonicClock.now()
        do throws(Errno) {
            let file = try openFiles.descriptor(session: session.serial, path: path, writable: purpose == .write, now: now) {
                () throws(Errno) in try UserFiles.open(path, for: purpose, mode: mode, as: UserEnvironment.identity(for: account))
            }
            timer.schedule(now + OpenFileCache.idleMs)
            return file
        } catch {
            throw ServiceError(error, path: path)
        }
    }

    /// Closes a descriptor `descriptor` gave that is of no use (a directory).
    func forget(_ file: FileDescriptor) { openFiles.drop(file) }

    /// Writes all of `bytes` at `offset` (after truncating, if asked); returns the count.
    /// A device without offsets (a tty) is written where it stands.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64, to path: [UInt8], truncate: Bool, mode: UInt32,
               as session: Session) throws(ServiceError) -> Int {
        guard offset <= SessionFiles.maxFileOffset - UInt64(bytes.count) else {
            throw ServiceError(.badRequest, "Offset: " + String(offset) + " + " + String(bytes.count) + " bytes of Data is past the largest file offset (2^63 - 1)")
        }
        let file = try descriptor(path, for: .write, mode: mode, as: session)
        if truncate && ftruncate(file.rawValue, 0) != 0 { throw ServiceError(.current, path: path) }
        var done = 0
        do throws(Errno) {
            do throws(Errno) {
                try file.writeAll(bytes, at: offset, written: &done)
            } catch where error == .illegalSeek && done == 0 {
                try file.writeAll(bytes, written: &done)  // a device without offsets (a tty)
            }
        } catch {
            // Nothing is reported as written that was not.
            throw ServiceError(.io, errno: error.code,
                               String(decoding: path, as: UTF8.self) + ": wrote " + String(done) + " of " + String(bytes.count) + " bytes: " + error.message)
        }
        return done
    }

    /// Reads what a file without a size (procfs, a device) gives into `buffer`: until it
    /// is full or read(2) reports the end. Never waits: a device with nothing to read yet
    /// is an error (EAGAIN), not a pause of the loop.
    static func readUnsized(_ file: FileDescriptor, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer,
                            path: [UInt8]) throws(ServiceError) -> (count: Int, eof: Bool) {
        var filled = 0
        var positional = true  // pread until the file says it has no offsets (a tty, say)
        while filled < buffer.count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
            do throws(Errno) {
                let got = positional ? try file.read(into: rest, at: offset + UInt64(filled)) : try file.read(into: rest)
                if got == 0 { return (filled, true) }
                filled += got
            } catch where error == .illegalSeek && positional {
                positional = false
            } catch {
                if filled > 0 { break }  // what was read goes out; the error comes again next time
                if error == .wouldBlock {
                    throw ServiceError(.io, errno: error.code,
                                       String(decoding: path, as: UTF8.self) + ": no data available yet (the device would block)")
                }
                throw ServiceError(error, path: path)
            }
        }
        return (filled, false)
    }

    // MARK: Life cycle

    /// A session ended: its open files close.
    func sessionEnded(_ serial: UInt64) { openFiles.close { owner, _ in owner == serial } }

    /// Closes descriptors unused for a while; returns when the next one is due.
    func closeIdle(now: Milliseconds) -> Milliseconds? { openFiles.closeIdle(now: now) }

    // MARK: Helpers

    /// Runs a file system call with the session user's permissions; its failure is the
    /// error for `path`.
    private static func asUser<R>(_ session: Session, _ path: [UInt8], _ body: () throws(Errno) -> R) throws(ServiceError) -> R {
        do throws(Errno) {
            return try UserFiles.run(as: UserEnvironment.identity(for: session.user.account), body)
        } catch {
            throw ServiceError(error, path: path)
        }
    }
}
