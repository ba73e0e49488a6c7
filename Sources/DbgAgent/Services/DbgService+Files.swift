import CSys
import DbgWire

/// ReadFile and WriteFile, as the user. A read chunk goes from the file to the socket
/// through a pipe (splice): the exact length is known before the header is sent and the
/// bytes never pass through the agent's memory. A written chunk goes from the receive
/// buffer straight to pwrite.
extension DbgService {
    func readFile(_ read: Dbg.ReadFileRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: read.token, on: connection)
        guard request.id != 0 else { return }  // one-way: nobody wants the data
        let path = try SessionFiles.path(read.path, of: session)
        try SessionFiles.checkRange(offset: read.offset)
        let file = try core.files.descriptor(path, for: .read, mode: 0, as: session)
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { throw ServiceError(.current, path: path) }
        guard info.st_mode & CSYS_S_IFMT != CSYS_S_IFDIR else {
            core.files.forget(file)
            throw ServiceError(.badRequest, "Path: is a directory: \(String(decoding: path, as: UTF8.self))")
        }
        var chunk = read.size == 0 ? min(defaultChunk, maxChunk) : min(Int(read.size), maxChunk)
        chunk = min(chunk, Int(connection.peerMaxPayload) - Dbg.FileChunk.bytesBeforeData - Dbg.FileChunk.bytesAfterData)
        // A regular file's size says where it ends. Files that report no size (procfs,
        // devices) are read until read(2) says so, bounded by the chunk, and copied:
        // splice cannot take from most of them.
        guard info.st_mode & CSYS_S_IFMT == CSYS_S_IFREG && info.st_size > 0 else {
            return try copyChunk(file, at: read.offset, limit: chunk, path, request, &connection)
        }
        let size = UInt64(info.st_size)
        guard read.offset < size else {
            return connection.respond(to: request, with: Dbg.FileChunk(data: .empty, eof: true))
        }
        guard let pipe = splicePipe(&connection) else { throw ServiceError.io("cannot make a pipe", .current) }
        chunk = min(chunk, Int(min(UInt64(Int.max), size - read.offset)), pipe.capacity)
        // Into the pipe first: the frame's length is then known exactly.
        var offset = Int64(read.offset)
        var moved = 0
        while moved < chunk {
            do throws(Errno) {
                let got = try file.splice(to: pipe.write, count: chunk - moved, offset: &offset)
                if got == 0 { break }  // the file ended sooner than its size said (it shrank): send what there is
                moved += got
            } catch {
                if moved > 0 { break }
                // A file system that cannot splice still reads.
                if error == .invalidArgument { return try copyChunk(file, at: read.offset, limit: chunk, path, request, &connection) }
                throw ServiceError(error, path: path)
            }
        }
        try connection.queueSplicedChunk(answering: request, length: moved,
                                         eof: moved < chunk || read.offset + UInt64(moved) >= size)
    }

    /// A chunk read (copied) straight into the transmit buffer.
    private func copyChunk(_ file: FileDescriptor, at offset: UInt64, limit: Int, _ path: [UInt8], _ request: FrameHeader,
                           _ connection: inout Connection) throws(ServiceError) {
        try connection.queueFilledChunk(answering: request, limit: limit) { space throws(ServiceError) in
            try SessionFiles.readUnsized(file, at: offset, into: space, path: path)
        }
    }

    func writeFile(_ write: Dbg.WriteFileRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: write.token, on: connection)
        let path = try SessionFiles.path(write.path, of: session)
        let mode = try SessionFiles.mode(write.mode, default: 0o644)
        let written = try write.data.withUnsafeBytes { (bytes) throws(ServiceError) in
            try core.files.write(bytes, at: write.offset, to: path, truncate: write.truncate, mode: mode, as: session)
        }
        connection.respond(to: request, with: Dbg.WriteFileResult(written: UInt32(written)))
    }

    /// The connection's splice pipe, made on first use and sized for the largest chunk.
    private func splicePipe(_ connection: inout Connection) -> (write: FileDescriptor, capacity: Int)? {
        if connection.splicePipe == nil {
            guard let pipe = try? OwnedPipe() else { return nil }
            _ = csys_set_pipe_size(pipe.write.rawValue, Int32(maxChunk))
            connection.splicePipe = .some(pipe)
        }
        guard let write = connection.splicePipe?.write.descriptor else { return nil }
        let capacity = csys_pipe_capacity(write.rawValue)
        return (write, Int(capacity > 0 ? capacity : 65536))
    }
}
