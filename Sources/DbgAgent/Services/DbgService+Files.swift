import CSys
import DbgWire

/// ReadFile and WriteFile, as the user. A read chunk goes from the file to the socket
/// through a pipe (splice): the exact length is known before the header is sent and the
/// bytes never pass through the agent's memory. A written chunk goes from the receive
/// buffer straight to pwrite.
extension DbgService {
    /// When ops can be handled: one spliced chunk at a time per connection; ShellInput
    /// after its shell's earlier input.
    func readiness(of request: Request, on connection: Connection) -> RequestReadiness {
        switch Dbg.Op(rawValue: request.header.op) {
        case .readFile: return connection.spliceRemaining > 0 ? .afterOutput : .now
        case .shellInput:
            guard let input = try? Dbg.ShellInputRequest.decode(payload: request.payload) else { return .now }
            return shellInputIsBlocked(sessionID: input.sessionID) ? .blocked : .now
        default: return .now
        }
    }

    func readFile(_ read: Dbg.ReadFileRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let session = session(for: read.token, request, &connection) else { return }
        guard request.id != 0 else { return }  // one-way: nobody wants the data
        guard let path = userPath(read.path, session, request, &connection) else { return }
        let account = session.user.account
        let opened = files.descriptor(session: session.serial, path: path, writable: false, now: MonotonicClock.now()) {
            UserFiles.open(path, writable: false, mode: 0, as: UserEnvironment.identity(for: account))
        }
        guard case .success(let file) = opened else {
            if case .failure(let error) = opened { failFileOp(error, path, request, &connection) }
            return
        }
        timer.schedule(MonotonicClock.now() + OpenFileCache.idleMs)
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { return failFileOp(.current, path, request, &connection) }
        guard info.st_mode & CSYS_S_IFMT != CSYS_S_IFDIR else {
            files.drop(file)
            return connection.fail(request, .badRequest, "Path: is a directory: \(String(decoding: path, as: UTF8.self))")
        }
        let size = UInt64(info.st_size)
        guard read.offset < size, let pipe = splicePipe(&connection) else {
            if read.offset >= size { connection.respond(to: request, with: Dbg.FileChunk(data: .empty, eof: true)) }
            else { connection.fail(request, .io, errno: Errno.current.code, "cannot make a pipe: \(Errno.current.message)") }
            return
        }
        var chunk = read.size == 0 ? min(defaultChunk, maxChunk) : min(Int(read.size), maxChunk)
        chunk = min(chunk, Int(min(UInt64(Int.max), size - read.offset)), Int(connection.peerMaxPayload) - 5, pipe.capacity)
        // Into the pipe first: the frame's length is then known exactly.
        var offset = Int64(read.offset)
        var moved = 0
        while moved < chunk {
            let got = csys_splice(file.rawValue, &offset, pipe.write.rawValue, chunk - moved, 0)
            if got <= 0 {
                if got < 0 && moved == 0 { return failFileOp(.current, path, request, &connection) }
                break  // the file ended sooner than its size said (it shrank): send what there is
            }
            moved += got
        }
        let eof = moved < chunk || read.offset + UInt64(moved) >= size
        let header = FrameHeader(kind: .response, service: request.service, op: request.op, id: request.id,
                                 length: UInt32(4 + moved + 1))
        var writer = WireWriter(connection.transmit.writable)
        do throws(WireError) {
            try header.encode(to: &writer)
            try writer.integer(UInt32(moved))
        } catch {
            return connection.fail(request, .internalError, "no room for a chunk header")  // the dispatch rule leaves room
        }
        connection.transmit.didWrite(writer.count)
        connection.spliceAfter = connection.transmit.readableCount
        connection.spliceRemaining = moved
        _ = connection.transmit.reserveWritable(1)
        connection.transmit.writable.storeBytes(of: eof ? 1 : 0, as: UInt8.self)
        connection.transmit.didWrite(1)
    }

    func writeFile(_ write: Dbg.WriteFileRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let session = session(for: write.token, request, &connection) else { return }
        guard let path = userPath(write.path, session, request, &connection) else { return }
        let account = session.user.account
        let mode = write.mode == 0 ? 0o644 : write.mode & 0o7777
        let opened = files.descriptor(session: session.serial, path: path, writable: true, now: MonotonicClock.now()) {
            UserFiles.open(path, writable: true, mode: mode, as: UserEnvironment.identity(for: account))
        }
        guard case .success(let file) = opened else {
            if case .failure(let error) = opened { failFileOp(error, path, request, &connection) }
            return
        }
        timer.schedule(MonotonicClock.now() + OpenFileCache.idleMs)
        if write.truncate && ftruncate(file.rawValue, 0) != 0 { return failFileOp(.current, path, request, &connection) }
        let total = write.data.count
        var done = 0
        var failure: Errno?
        write.data.withUnsafeBytes { bytes in
            while done < total {
                let wrote = pwrite(file.rawValue, bytes.baseAddress! + done, total - done, off_t(write.offset) + off_t(done))
                if wrote < 0 {
                    if Errno.current == .interrupted { continue }
                    failure = .current
                    return
                }
                done += wrote
            }
        }
        if let failure {
            // Nothing is reported as written that was not.
            return connection.fail(request, .io, errno: failure.code,
                                   "\(String(decoding: path, as: UTF8.self)): wrote \(done) of \(total) bytes: \(failure.message)")
        }
        connection.respond(to: request, with: Dbg.WriteFileResult(written: UInt32(total)))
    }

    /// The path a request names, checked and made absolute, or nil after answering.
    func userPath(_ path: WireBytes, _ session: Session, _ request: FrameHeader, _ connection: inout Connection,
                  field: StaticString = "Path") -> [UInt8]? {
        if path.isEmpty {
            connection.fail(request, .badRequest, "\(field.text): empty")
            return nil
        }
        if path.containsNUL {
            connection.fail(request, .badRequest, "\(field.text): contains a NUL byte")
            return nil
        }
        return UserFiles.resolve(path.bytes, home: session.user.account.home)
    }

    /// ENOENT is NotFound, EACCES Denied, EEXIST Exists, the rest IO with the errno.
    func failFileOp(_ error: Errno, _ path: [UInt8], _ request: FrameHeader, _ connection: inout Connection) {
        let name = String(decoding: path, as: UTF8.self)
        switch error.code {
        case CSYS_ENOENT: connection.fail(request, .notFound, errno: error.code, "no such file or directory: \(name)")
        case CSYS_EACCES, CSYS_EPERM: connection.fail(request, .denied, errno: error.code, "permission denied: \(name)")
        case CSYS_EEXIST: connection.fail(request, .exists, errno: error.code, "already exists: \(name)")
        default: connection.fail(request, .io, errno: error.code, "\(name): \(error.message)")
        }
    }

    /// The connection's splice pipe, made on first use and sized for the largest chunk.
    private func splicePipe(_ connection: inout Connection) -> (write: FileDescriptor, capacity: Int)? {
        if connection.splicePipe == nil {
            var ends: [Int32] = [-1, -1]
            guard csys_pipe(&ends) == 0 else { return nil }
            connection.splicePipe = (FileDescriptor(ends[0]), FileDescriptor(ends[1]))
            _ = csys_set_pipe_size(ends[1], Int32(maxChunk))
        }
        let capacity = csys_pipe_capacity(connection.splicePipe!.write.rawValue)
        return (connection.splicePipe!.write, Int(capacity > 0 ? capacity : 65536))
    }
}
