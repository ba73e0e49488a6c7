import CSys
import DbgWire

/// The file extension ops (0x0640 and up): Stat, ListDir, Mkdir, Remove, Rename, and
/// Hash, which runs on a worker thread so a large file does not hold the loop up.
extension DbgService {
    /// Bytes of encoded entries per ListDir page, at most.
    static let listPageLimit = 64 << 10

    func statFile(_ request: Dbg.PathRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        switch asUser(session, { FileTree.info(path) }) {
        case .success(let info): connection.respond(to: header, with: info)
        case .failure(let error): failFileOp(error, path, header, &connection)
        }
    }

    func listDirectory(_ request: Dbg.ListDirRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        guard request.cookie <= DbgService.maxFileOffset else {
            return connection.fail(header, .badRequest, "Cookie: \(request.cookie) is not one ListDir gave (above 2^63 - 1)")
        }
        let limit = min(DbgService.listPageLimit, Int(connection.peerMaxPayload) - 64)
        switch asUser(session, { FileTree.list(path, cookie: request.cookie, byteLimit: limit) }) {
        case .success(let page): connection.respond(to: header, with: page)
        case .failure(let error): failFileOp(error, path, header, &connection)
        }
    }

    func makeDirectory(_ request: Dbg.MkdirRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        guard let mode = fileMode(request.mode, default: 0o755, header, &connection) else { return }
        answer(asUser(session, { FileTree.makeDirectory(path, mode: mode, parents: request.parents) }), path, header, &connection)
    }

    func removeFile(_ request: Dbg.RemoveRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        files.close { _, cached in cached.starts(with: path) }
        // A tree may be large: removing it is a file job, so the loop never waits for it.
        guard !request.recursive else {
            return submit(.removeTree, path: path, reportedAs: path, session, header, &connection)
        }
        answer(asUser(session, { FileTree.remove(path, recursive: false) }), path, header, &connection)
    }

    /// A regular file is synced (and so is the target's directory after the rename) on a
    /// worker thread before Rename answers: a pushed file that has its final name keeps
    /// its bytes through a power cut, and slow flash never holds the loop up.
    func renameFile(_ request: Dbg.RenameRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, from) = checked(request.token, request.from, header, &connection),
              let to = userPath(request.to, session, header, &connection, field: "To") else { return }
        files.close { _, cached in cached == from || cached == to }
        if case .success(let info) = asUser(session, { FileTree.info(from) }), info.type == Dbg.FileType.regular.rawValue {
            return submit(.syncAndRename(to: to, replace: request.replace), path: from, reportedAs: to, session, header, &connection)
        }
        answer(asUser(session) { FileTree.rename(from, to, replace: request.replace) }, to, header, &connection)
    }

    func hashFile(_ request: Dbg.HashRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        guard request.offset <= DbgService.maxFileOffset else {
            return connection.fail(header, .badRequest, "Offset: \(request.offset) is past the largest file offset (2^63 - 1)")
        }
        guard request.length <= DbgService.maxFileOffset - request.offset else {
            return connection.fail(header, .badRequest, "Length: \(request.length) from Offset \(request.offset) "
                + "reaches past the largest file offset (2^63 - 1)")
        }
        submit(.hash(offset: request.offset, length: request.length), path: path, reportedAs: path, session, header, &connection)
    }

    /// Hands `work` on `path` to a worker thread; the answer goes out when it is done, an
    /// error naming `reportedAs`.
    private func submit(_ work: FileWork, path: [UInt8], reportedAs: [UInt8], _ session: Session, _ header: FrameHeader,
                        _ connection: inout Connection) {
        submit(work, path: path, reportedAs: reportedAs, as: UserEnvironment.identity(for: session.user.account), header,
               &connection)
    }

    /// The same with an identity: the user's, or nil for the agent's own.
    func submit(_ work: FileWork, path: [UInt8], reportedAs: [UInt8], as identity: UserAccount?, _ header: FrameHeader,
                _ connection: inout Connection) {
        guard let index = fileJobs.firstIndex(where: { $0 == nil }) else {
            return connection.fail(header, .busy, "\(fileJobs.count) file jobs are already running; try again")
        }
        let job = FileJob(slot: index, path: path, identity: identity, work: work)
        guard fileWorkers.submit(job) else { return connection.fail(header, .busy, "the file worker queue is full; try again") }
        fileJobs[index] = PendingFileJob(connectionSlot: connection.slot, connectionGeneration: connection.generation,
                                         request: header, path: reportedAs)
    }

    // MARK: Helpers

    /// The session and absolute path of a request, or nil after answering.
    private func checked(_ token: WireBytes, _ path: WireBytes, _ header: FrameHeader,
                         _ connection: inout Connection) -> (Session, [UInt8])? {
        guard let session = session(for: token, header, &connection),
              let resolved = userPath(path, session, header, &connection) else { return nil }
        return (session, resolved)
    }

    /// Runs a file system operation with the session user's permissions.
    private func asUser<R>(_ session: Session, _ body: () -> Result<R, Errno>) -> Result<R, Errno> {
        switch UserFiles.run(as: UserEnvironment.identity(for: session.user.account), body) {
        case .success(let inner): return inner
        case .failure(let error): return .failure(error)
        }
    }

    private func asUser(_ session: Session, _ body: () -> Errno?) -> Errno? {
        switch UserFiles.run(as: UserEnvironment.identity(for: session.user.account), body) {
        case .success(let inner): return inner
        case .failure(let error): return error
        }
    }

    /// Empty on success, the error otherwise.
    private func answer(_ error: Errno?, _ path: [UInt8], _ header: FrameHeader, _ connection: inout Connection) {
        if let error { failFileOp(error, path, header, &connection) } else { connection.respond(to: header, with: Empty()) }
    }

    /// Collects what the file workers finished; `ready` gets each connection slot with
    /// an answer to deliver.
    func fileWorkersFinished(_ ready: (Int) -> Void) {
        fileWorkers.takeFinished { fileJobFinished($0, ready) }
    }

    /// A finished file job: its answer waits for its connection's turn.
    private func fileJobFinished(_ job: FileJob, _ ready: (Int) -> Void) {
        guard let pending = fileJobs[job.slot] else { return }
        guard pending.connectionSlot >= 0 else {
            fileJobs[job.slot] = nil  // the connection is gone
            return
        }
        fileJobs[job.slot]!.result = job.result
        ready(pending.connectionSlot)
    }

    /// Queues the answers of this connection's finished file jobs.
    func deliverFileJobs(_ connection: inout Connection) {
        for index in fileJobs.indices {
            guard let pending = fileJobs[index], let result = pending.result, pending.connectionSlot == connection.slot,
                  pending.connectionGeneration == connection.generation else { continue }
            guard connection.transmit.reserveWritable(DbgService.replyRoom) else { return }
            fileJobs[index] = nil
            switch result {
            case .success(.digest(let digest, let length)):
                connection.respond(to: pending.request, with: Dbg.HashResult(digest: WireBytes(digest), length: length))
            case .success(.done):
                connection.respond(to: pending.request, with: Empty())
            case .success(.diskUsage(let bytes)):
                connection.respond(to: pending.request,
                                   with: Distro.StatusResponse(installed: true, path: WireBytes(pending.path), size: bytes))
            case .failure(let error):
                failFileOp(error, pending.path, pending.request, &connection)
            }
        }
    }

    /// A closed connection's file jobs: running ones are dropped when they finish.
    func dropFileJobs(connectionSlot slot: Int, generation: UInt32) {
        for index in fileJobs.indices {
            guard let pending = fileJobs[index], pending.connectionSlot == slot, pending.connectionGeneration == generation
            else { continue }
            if pending.result == nil { fileJobs[index]!.connectionSlot = -1 } else { fileJobs[index] = nil }
        }
    }
}

/// A Hash, Rename, recursive Remove or distro Status request while its worker runs, and
/// its result until delivered.
struct PendingFileJob {
    var connectionSlot: Int
    var connectionGeneration: UInt32
    var request: FrameHeader
    var path: [UInt8]
    var result: Result<FileJobOutcome, Errno>?
}

/// What a file job does to its path.
enum FileWork {
    /// SHA-256 of `length` bytes from `offset` (length 0: to the end).
    case hash(offset: UInt64, length: UInt64)
    /// fsync the file, rename it to `to`, then fsync the directory `to` is in.
    case syncAndRename(to: [UInt8], replace: Bool)
    /// The bytes a tree occupies (distro Status).
    case diskUsage
    /// Remove, recursive.
    case removeTree
}

enum FileJobOutcome {
    case digest([UInt8], UInt64)
    /// Renamed, or removed.
    case done
    case diskUsage(Int64)
}

/// What a worker thread needs to work on a file as the user.
struct FileJob {
    static let readSize = 256 << 10

    let slot: Int
    let path: [UInt8]
    let identity: UserAccount?
    let work: FileWork
    var result: Result<FileJobOutcome, Errno> = .failure(Errno(0))

    /// Runs on a worker thread (the identity switch is per thread).
    mutating func run() {
        let (path, work) = (self.path, self.work)
        let outcome = UserFiles.run(as: identity) { () -> Result<FileJobOutcome, Errno> in
            switch work {
            case .hash(let offset, let length):
                return FileJob.hash(path, offset: offset, length: length)
            case .syncAndRename(let to, let replace):
                // What the user may move but not open (a file of mode 0200, a directory of
                // mode 0300) is renamed unsynced, as rename(2) alone would.
                if let error = FileTree.sync(path), error.code != CSYS_EACCES { return .failure(error) }
                if let error = FileTree.rename(path, to, replace: replace) { return .failure(error) }
                if let error = FileTree.syncDirectory(of: to), error.code != CSYS_EACCES { return .failure(error) }
                return .success(.done)
            case .removeTree:
                return FileTree.remove(path, recursive: true).map { .failure($0) } ?? .success(.done)
            case .diskUsage:
                return DistroRoot.diskUsage(path).map { .diskUsage($0) }
            }
        }
        switch outcome {
        case .success(let inner): result = inner
        case .failure(let error): result = .failure(error)
        }
    }

    private static func hash(_ path: [UInt8], offset: UInt64, length: UInt64) -> Result<FileJobOutcome, Errno> {
        let opened = UserFiles.openAsCurrentUser(path, for: .hash, mode: 0)
        guard case .success(let file) = opened else { return .failure(opened.failure!) }
        defer { file.close() }
        let fd = file.rawValue
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileJob.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var done: UInt64 = 0
        while length == 0 || done < length {
            let want = length == 0 ? buffer.count : Int(min(UInt64(buffer.count), length - done))
            let got = pread(fd, buffer.baseAddress, want, off_t(offset + done))
            if got < 0 {
                if Errno.current == .interrupted { continue }
                return .failure(.current)
            }
            if got == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            done += UInt64(got)
        }
        return .success(.digest(hasher.finish(), done))
    }
}
