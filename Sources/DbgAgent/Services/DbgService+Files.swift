import CSys
import DbgWire

/// ReadFile and WriteFile, as the user. A read chunk goes from the file to the socket
/// through a pipe (splice): the exact length is known before the header is sent and the
/// bytes never pass through the agent's memory. A written chunk goes from the receive
/// buffer straight to pwrite.
extension DbgService {
    /// The largest offset a file can have (off_t is signed 64-bit); wire offsets are
    /// unsigned and checked against it before any conversion.
    static let maxFileOffset = UInt64(Int64.max)

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
        guard read.offset <= DbgService.maxFileOffset else {
            return connection.fail(request, .badRequest, "Offset: \(read.offset) is past the largest file offset (2^63 - 1)")
        }
        guard let file = cachedDescriptor(path, for: .read, mode: 0, session, request, &connection) else { return }
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { return failFileOp(.current, path, request, &connection) }
        guard info.st_mode & CSYS_S_IFMT != CSYS_S_IFDIR else {
            files.drop(file)
            return connection.fail(request, .badRequest, "Path: is a directory: \(String(decoding: path, as: UTF8.self))")
        }
        var chunk = read.size == 0 ? min(defaultChunk, maxChunk) : min(Int(read.size), maxChunk)
        chunk = min(chunk, Int(connection.peerMaxPayload) - 5)
        // A regular file's size says where it ends. Files that report no size (procfs,
        // devices) are read until read(2) says so, bounded by the chunk, and copied:
        // splice cannot take from most of them.
        guard info.st_mode & CSYS_S_IFMT == CSYS_S_IFREG && info.st_size > 0 else {
            return readUnsized(file, from: read.offset, chunk: chunk, path, request, &connection)
        }
        let size = UInt64(info.st_size)
        guard read.offset < size else {
            return connection.respond(to: request, with: Dbg.FileChunk(data: .empty, eof: true))
        }
        guard let pipe = splicePipe(&connection) else {
            return connection.fail(request, .io, errno: Errno.current.code, "cannot make a pipe: \(Errno.current.message)")
        }
        chunk = min(chunk, Int(min(UInt64(Int.max), size - read.offset)), pipe.capacity)
        // Into the pipe first: the frame's length is then known exactly.
        var offset = Int64(read.offset)
        var moved = 0
        while moved < chunk {
            let got = csys_splice(file.rawValue, &offset, pipe.write.rawValue, chunk - moved, 0)
            if got <= 0 {
                if got < 0 && moved == 0 {
                    // A file system that cannot splice still reads.
                    if Errno.current.code == CSYS_EINVAL { return readUnsized(file, from: read.offset, chunk: chunk, path, request, &connection) }
                    return failFileOp(.current, path, request, &connection)
                }
                break  // the file ended sooner than its size said (it shrank): send what there is
            }
            moved += got
        }
        let eof = moved < chunk || read.offset + UInt64(moved) >= size
        guard writeChunkHeader(request, length: moved, &connection) else { return }
        connection.spliceAfter = connection.transmit.readableCount
        connection.spliceRemaining = moved
        writeChunkTrailer(eof: eof, &connection)
    }

    /// A chunk read (copied) into the transmit buffer, for files without a size: up to
    /// `chunk` bytes, or fewer when read(2) reports the end. Never waits: a device with
    /// nothing to read yet is an error (EAGAIN), not a pause of the loop.
    private func readUnsized(_ file: FileDescriptor, from offset: UInt64, chunk: Int, _ path: [UInt8], _ request: FrameHeader,
                             _ connection: inout Connection) {
        let dataStart = FrameHeader.size + 4
        guard connection.transmit.reserveWritable(dataStart + chunk + 1) else {
            return connection.fail(request, .internalError, "no room for a chunk")  // the dispatch rule leaves room
        }
        let data = connection.transmit.writable.baseAddress! + dataStart
        var filled = 0
        var eof = false
        var failure: Errno?
        var positional = true  // pread until the file says it has no offsets (a tty, say)
        while filled < chunk {
            let got = positional ? pread(file.rawValue, data + filled, chunk - filled, off_t(offset) + off_t(filled))
                                 : systemRead(file.rawValue, data + filled, chunk - filled)
            if got > 0 {
                filled += got
            } else if got == 0 {
                eof = true
                break
            } else if Errno.current == .interrupted {
                continue
            } else if Errno.current.code == CSYS_ESPIPE && positional {
                positional = false
            } else {
                failure = .current
                break
            }
        }
        if let failure, filled == 0 {
            if failure == .wouldBlock {
                return connection.fail(request, .io, errno: failure.code,
                                       "\(String(decoding: path, as: UTF8.self)): no data available yet (the device would block)")
            }
            return failFileOp(failure, path, request, &connection)
        }
        guard writeChunkHeader(request, length: filled, &connection) else { return }
        connection.transmit.didWrite(filled)
        writeChunkTrailer(eof: eof, &connection)
    }

    /// A FileChunk's frame header and Data length; the bytes follow (spliced or already
    /// in place), then the trailer.
    private func writeChunkHeader(_ request: FrameHeader, length: Int, _ connection: inout Connection) -> Bool {
        let header = FrameHeader(kind: .response, service: request.service, op: request.op, id: request.id,
                                 length: UInt32(4 + length + 1))
        var writer = WireWriter(connection.transmit.writable)
        do throws(WireError) {
            try header.encode(to: &writer)
            try writer.integer(UInt32(length))
        } catch {
            connection.fail(request, .internalError, "no room for a chunk header")  // the dispatch rule leaves room
            return false
        }
        connection.transmit.didWrite(writer.count)
        return true
    }

    private func writeChunkTrailer(eof: Bool, _ connection: inout Connection) {
        _ = connection.transmit.reserveWritable(1)
        connection.transmit.writable.storeBytes(of: eof ? 1 : 0, as: UInt8.self)
        connection.transmit.didWrite(1)
    }

    func writeFile(_ write: Dbg.WriteFileRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let session = session(for: write.token, request, &connection) else { return }
        guard let path = userPath(write.path, session, request, &connection) else { return }
        guard write.offset <= DbgService.maxFileOffset - UInt64(write.data.count) else {
            return connection.fail(request, .badRequest, "Offset: \(write.offset) + \(write.data.count) bytes of Data "
                + "is past the largest file offset (2^63 - 1)")
        }
        guard let mode = fileMode(write.mode, default: 0o644, request, &connection) else { return }
        guard let file = cachedDescriptor(path, for: .write, mode: mode, session, request, &connection) else { return }
        if write.truncate && ftruncate(file.rawValue, 0) != 0 { return failFileOp(.current, path, request, &connection) }
        let total = write.data.count
        var done = 0
        var failure: Errno?
        var positional = true
        write.data.withUnsafeBytes { bytes in
            while done < total {
                let wrote = positional
                    ? pwrite(file.rawValue, bytes.baseAddress! + done, total - done, off_t(write.offset) + off_t(done))
                    : systemWrite(file.rawValue, bytes.baseAddress! + done, total - done)
                if wrote < 0 {
                    if Errno.current == .interrupted { continue }
                    if Errno.current.code == CSYS_ESPIPE && positional {
                        positional = false  // a device without offsets (a tty)
                        continue
                    }
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

    /// The session's open descriptor for `path`, from the cache or opened as the user
    /// (and cached); nil after answering.
    private func cachedDescriptor(_ path: [UInt8], for purpose: UserFiles.Purpose, mode: UInt32, _ session: Session,
                                  _ request: FrameHeader, _ connection: inout Connection) -> FileDescriptor? {
        let account = session.user.account
        let now = MonotonicClock.now()
        let opened = files.descriptor(session: session.serial, path: path, writable: purpose == .write, now: now) {
            UserFiles.open(path, for: purpose, mode: mode, as: UserEnvironment.identity(for: account))
        }
        switch opened {
        case .success(let file):
            timer.schedule(now + OpenFileCache.idleMs)
            return file
        case .failure(let error):
            failFileOp(error, path, request, &connection)
            return nil
        }
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

    /// A request's Mode: 0 is `defaultMode`; bits beyond the permissions, set-id and
    /// sticky bits (07777) are BadRequest; nil after answering.
    func fileMode(_ mode: UInt32, default defaultMode: UInt32, _ request: FrameHeader,
                  _ connection: inout Connection) -> UInt32? {
        guard mode <= 0o7777 else {
            connection.fail(request, .badRequest, "Mode: 0\(String(mode, radix: 8)) has bits beyond 07777 (permissions, set-id, sticky)")
            return nil
        }
        return mode == 0 ? defaultMode : mode
    }

    /// ENOENT is NotFound, EACCES Denied, EEXIST Exists, a refused file type BadRequest,
    /// the rest IO with the errno.
    func failFileOp(_ error: Errno, _ path: [UInt8], _ request: FrameHeader, _ connection: inout Connection) {
        let name = String(decoding: path, as: UTF8.self)
        if let type = error.refusedType {
            return connection.fail(request, .badRequest, "Path: \(name) is \(type.article); "
                + "only regular files and devices are read and written, regular files and block devices hashed")
        }
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
