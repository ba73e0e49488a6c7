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
        let limit = min(DbgService.listPageLimit, Int(connection.peerMaxPayload) - 64)
        switch asUser(session, { FileTree.list(path, cookie: request.cookie, byteLimit: limit) }) {
        case .success(let page): connection.respond(to: header, with: page)
        case .failure(let error): failFileOp(error, path, header, &connection)
        }
    }

    func makeDirectory(_ request: Dbg.MkdirRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        let mode = request.mode == 0 ? 0o755 : request.mode & 0o7777
        answer(asUser(session, { FileTree.makeDirectory(path, mode: mode, parents: request.parents) }), path, header, &connection)
    }

    func removeFile(_ request: Dbg.RemoveRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        files.close { _, cached in cached.starts(with: path) }
        answer(asUser(session, { FileTree.remove(path, recursive: request.recursive) }), path, header, &connection)
    }

    func renameFile(_ request: Dbg.RenameRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, from) = checked(request.token, request.from, header, &connection),
              let to = userPath(request.to, session, header, &connection, field: "To") else { return }
        files.close { _, cached in cached == from || cached == to }
        let outcome = asUser(session) { () -> Errno? in
            FileTree.withCPath(from) { source in
                FileTree.withCPath(to) { target in csys_rename(source, target, request.replace ? 1 : 0) }
            } == 0 ? nil : Errno.current
        }
        answer(outcome, to, header, &connection)
    }

    func hashFile(_ request: Dbg.HashRequest, _ header: FrameHeader, _ connection: inout Connection) {
        guard let (session, path) = checked(request.token, request.path, header, &connection) else { return }
        guard let index = hashes.firstIndex(where: { $0 == nil }) else {
            return connection.fail(header, .busy, "\(hashes.count) hashes are already being computed; try again")
        }
        let job = HashJob(slot: index, path: path, identity: UserEnvironment.identity(for: session.user.account),
                          offset: request.offset, length: request.length)
        guard workers.submit(.hash(job)) else { return connection.fail(header, .busy, "the worker queue is full; try again") }
        hashes[index] = PendingHash(connectionSlot: connection.slot, connectionGeneration: connection.generation,
                                    request: header, path: path)
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

    /// A finished Hash job: its answer waits for its connection's turn.
    func hashFinished(_ job: HashJob, _ ready: (Int) -> Void) {
        guard let pending = hashes[job.slot] else { return }
        guard pending.connectionSlot >= 0 else {
            hashes[job.slot] = nil  // the connection is gone
            return
        }
        hashes[job.slot]!.result = job.result
        ready(pending.connectionSlot)
    }

    /// Queues the answers of this connection's finished hashes.
    func deliverHashes(_ connection: inout Connection) {
        for index in hashes.indices {
            guard let pending = hashes[index], let result = pending.result, pending.connectionSlot == connection.slot,
                  pending.connectionGeneration == connection.generation else { continue }
            guard connection.transmit.reserveWritable(DbgService.replyRoom) else { return }
            hashes[index] = nil
            switch result {
            case .success(let (digest, length)):
                connection.respond(to: pending.request, with: Dbg.HashResult(digest: WireBytes(digest), length: length))
            case .failure(let error):
                failFileOp(error, pending.path, pending.request, &connection)
            }
        }
    }

    /// A closed connection's hashes: running ones are dropped when they finish.
    func dropHashes(connectionSlot slot: Int, generation: UInt32) {
        for index in hashes.indices {
            guard let pending = hashes[index], pending.connectionSlot == slot, pending.connectionGeneration == generation
            else { continue }
            if pending.result == nil { hashes[index]!.connectionSlot = -1 } else { hashes[index] = nil }
        }
    }
}

/// A Hash request while its worker runs, and its result until delivered.
struct PendingHash {
    var connectionSlot: Int
    var connectionGeneration: UInt32
    var request: FrameHeader
    var path: [UInt8]
    var result: Result<([UInt8], UInt64), Errno>?
}

/// What a worker thread needs to hash a file as the user.
struct HashJob {
    static let readSize = 256 << 10

    let slot: Int
    let path: [UInt8]
    let identity: UserAccount?
    let offset: UInt64
    let length: UInt64
    var result: Result<([UInt8], UInt64), Errno> = .failure(Errno(0))

    /// Runs on a worker thread (the identity switch is per thread).
    mutating func run() {
        let path = self.path
        let (offset, length) = (self.offset, self.length)
        let outcome = UserFiles.run(as: identity) { () -> Result<([UInt8], UInt64), Errno> in
            let fd = FileTree.withCPath(path) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY) }
            guard fd >= 0 else { return .failure(.current) }
            defer { FileDescriptor(fd).close() }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: HashJob.readSize, alignment: 16)
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
            return .success((hasher.finish(), done))
        }
        switch outcome {
        case .success(let inner): result = inner
        case .failure(let error): result = .failure(error)
        }
    }
}
