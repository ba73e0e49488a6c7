import CSys
import DbgWire

/// The file extension ops (0x0640 and up): Stat, ListDir, Mkdir, Remove, Rename and
/// Hash, through the core's session files. Hash, Rename of a regular file and recursive
/// Remove are file jobs, answered when they are done (`deliverFileJob`).
extension DbgService {
    /// Bytes of encoded entries per ListDir page, at most.
    static let listPageLimit = 64 << 10

    func statFile(_ request: Dbg.PathRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        connection.respond(to: header, with: try core.files.stat(try SessionFiles.path(request.path, of: session), as: session))
    }

    func listDirectory(_ request: Dbg.ListDirRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        let path = try SessionFiles.path(request.path, of: session)
        let limit = min(DbgService.listPageLimit, Int(connection.peerMaxPayload) - 64)
        connection.respond(to: header, with: try core.files.list(path, cookie: request.cookie, byteLimit: limit, as: session))
    }

    func makeDirectory(_ request: Dbg.MkdirRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        let path = try SessionFiles.path(request.path, of: session)
        try core.files.makeDirectory(path, mode: try SessionFiles.mode(request.mode, default: 0o755), parents: request.parents,
                                     as: session)
        connection.respond(to: header, with: Empty())
    }

    func removeFile(_ request: Dbg.RemoveRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        let path = try SessionFiles.path(request.path, of: session)
        let outcome = try core.files.remove(path, recursive: request.recursive, as: session,
                                            reply: ReplyAddress(connection: connection.ref, request: header))
        if outcome == .done { connection.respond(to: header, with: Empty()) }
    }

    func renameFile(_ request: Dbg.RenameRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        let from = try SessionFiles.path(request.from, of: session)
        let to = try SessionFiles.path(request.to, of: session, field: "To")
        let outcome = try core.files.rename(from, to: to, replace: request.replace, as: session,
                                            reply: ReplyAddress(connection: connection.ref, request: header))
        if outcome == .done { connection.respond(to: header, with: Empty()) }
    }

    func hashFile(_ request: Dbg.HashRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        try core.files.hash(try SessionFiles.path(request.path, of: session), offset: request.offset, length: request.length,
                            as: session, reply: ReplyAddress(connection: connection.ref, request: header))
    }

    /// The answer of a finished Hash, Rename or recursive Remove.
    func deliverFileJob(_ job: PendingFileJob, _ connection: inout Connection) {
        switch job.result {
        case .success(.digest(let digest, let length)):
            connection.respond(to: job.reply.request, with: Dbg.HashResult(digest: WireBytes(digest), length: length))
        case .success(.done):
            connection.respond(to: job.reply.request, with: Empty())
        case .failure(let error):
            connection.fail(job.reply.request, ServiceError(error, path: job.path))
        case .success(.diskUsage), nil:
            connection.fail(job.reply.request, .internalError, "a file job came back unfinished or of another service")
        }
    }
}
