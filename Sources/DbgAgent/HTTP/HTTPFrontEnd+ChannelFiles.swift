import CSys
import DbgWire

/// The `files` service of the channel protocol: every file body of the seed, as the
/// session's user, through the core's session files (the same code as Sutra's Stat,
/// ListDir, Mkdir, Remove, Rename, FileRead and FileWrite). A file's content travels in
/// one message, streamed when large (`+ChannelFileStreams`); beyond the limit the
/// request is refused, naming it. A recursive remove and a move of a regular file are
/// file jobs (never on the loop): answered when done, one at a time per connection.
extension HTTPFrontEnd {
    /// A message for a files channel; false when it waits for the connection's file job.
    func filesMessage(_ slot: Int, _ command: API.Command, _ body: API.Command.Body) -> Bool {
        if connections[slot].socket.channels?.fileJob != nil {
            switch body {
            case .remove, .move:
                connections[slot].socket.waitingForRoom = true
                return false
            default:
                break
            }
        }
        guard let session = webSocketSession(slot) else {
            reply(slot, to: command, .error("the session has ended (logged out)"))
            return true
        }
        do throws(ServiceError) {
            switch body {
            case .read(let file): try readFile(slot, command, file, session)
            case .write(let file):
                let path = try SessionFiles.path(file.path, of: session)
                _ = try file.content.withUnsafeBytes { (bytes) throws(ServiceError) in
                    try core.files.write(bytes, at: 0, to: path, truncate: true, mode: 0o644, as: session)
                }
                reply(slot, to: command, .ok(API.OK()))
            case .stat(let file): try statFile(slot, command, file, session)
            case .readdir(let file): try listDirectory(slot, command, file, session)
            case .mkdir(let file):
                try core.files.makeDirectory(try SessionFiles.path(file.path, of: session), mode: 0o755, parents: true, as: session)
                reply(slot, to: command, .ok(API.OK()))
            case .tryRemove(let file):
                _ = try core.files.remove(try SessionFiles.path(file.path, of: session), recursive: false, as: session, reply: jobReply(slot))
                reply(slot, to: command, .ok(API.OK()))
            case .remove(let file):
                let outcome = try core.files.remove(try SessionFiles.path(file.path, of: session), recursive: true, as: session,
                                                    reply: jobReply(slot))
                answerOrWait(slot, command, outcome)
            case .move(let move):
                let from = try SessionFiles.path(move.oldPath, of: session, field: "oldPath")
                let to = try SessionFiles.path(move.newPath, of: session, field: "newPath")
                answerOrWait(slot, command, try core.files.rename(from, to: to, replace: true, as: session, reply: jobReply(slot)))
            default:
                reply(slot, to: command, .error("a files channel takes read, write, stat, readdir, mkdir, remove, tryRemove, move and ping"))
            }
        } catch {
            reply(slot, to: command, .error(WireBytes(error.message)))
        }
        return true
    }

    private func jobReply(_ slot: Int) -> ReplyAddress { ReplyAddress(connection: ref(slot), request: .connectionLevel) }

    private func answerOrWait(_ slot: Int, _ command: API.Command, _ outcome: SessionFiles.Outcome) {
        guard outcome == .posted else { return reply(slot, to: command, .ok(API.OK())) }
        connections[slot].socket.channels?.fileJob = (command.channel, command.session, command.ref.bytes)
    }

    /// The connection's file job is done: its answer, and the messages that waited for it
    /// are read again. False while the answer waits for room.
    func channelFileJobDone(_ slot: Int, job index: Int) -> Bool {
        guard hasChannelReplyRoom(slot) else { return false }
        let job = core.fileJobs.take(index)
        guard let waiting = connections[slot].socket.channels?.fileJob else { return true }
        connections[slot].socket.channels?.fileJob = nil
        connections[slot].socket.waitingForRoom = false
        guard connections[slot].socket.channels?.index(of: waiting.channel) != nil else { return true }  // closed meanwhile
        var answer = API.Command(channel: waiting.channel, session: waiting.session, ref: WireBytes(waiting.ref))
        switch job.result {
        case .success(.done): answer.body = .ok(API.OK())
        case .failure(let error): answer.body = .error(WireBytes(ServiceError(error, path: job.path).message))
        default: answer.body = .error("a file job came back unfinished")
        }
        sendCommand(slot, answer)
        return true
    }

    // MARK: Bodies

    /// `file {path, content}`: the whole file in one message. A regular file larger than
    /// an answer's buffer streams (`+ChannelFileStreams`), up to `channelFileBytes`; a file
    /// without a size (procfs, a device) must fit the buffer.
    private func readFile(_ slot: Int, _ command: API.Command, _ file: API.File, _ session: Session) throws(ServiceError) {
        let path = try SessionFiles.path(file.path, of: session)
        let info = try core.files.stat(path, as: session)
        let shown = String(decoding: path, as: UTF8.self)
        guard info.type != Dbg.FileType.directory.rawValue else { throw ServiceError(.badRequest, shown + ": is a directory (readdir lists it)") }
        // What an answer holds besides the content: the ref, the path, and field heads.
        let limit = HTTPFrontEnd.channelReplyBytes - command.ref.count - file.path.count - 64
        let descriptor = try core.files.descriptor(path, for: .read, mode: 0, as: session)
        if info.type == Dbg.FileType.regular.rawValue && info.size > UInt64(limit) {
            guard info.size <= HTTPFrontEnd.channelFileBytes else {
                throw ServiceError(.badRequest, shown + ": " + String(info.size) + " bytes, larger than "
                    + String(HTTPFrontEnd.channelFileBytes) + ", the most one file answer carries")
            }
            return sendFileAnswer(slot, to: command, path: path, shownPath: file.path, size: info.size)
        }
        connections[slot].lines[1].clear()
        let scratch = UnsafeMutableRawBufferPointer(rebasing: connections[slot].lines[1].writable.prefix(limit + 1))
        let (count, _) = try SessionFiles.readUnsized(descriptor, at: 0, into: scratch, path: path)
        guard count <= limit else {
            throw ServiceError(.badRequest, shown + ": a file without a size that gives more than " + String(limit)
                + " bytes, the most one answer holds for it")
        }
        var answer = API.File(path: file.path, type: .regular)
        answer.content = WireBytes(viewing: UnsafeRawBufferPointer(rebasing: scratch.prefix(count)))
        reply(slot, to: command, .file(answer))
    }

    /// `statRes`: a path that is not there is `exists: false`, not an error.
    private func statFile(_ slot: Int, _ command: API.Command, _ file: API.File, _ session: Session) throws(ServiceError) {
        let info: Dbg.FileInfo
        do throws(ServiceError) {
            info = try core.files.stat(try SessionFiles.path(file.path, of: session), as: session)
        } catch where error.code == .notFound {
            return reply(slot, to: command, .statRes(API.StatResult(exists: false)))
        }
        reply(slot, to: command, .statRes(API.StatResult(
            exists: true, type: HTTPFrontEnd.fileKind(info.type), size: Int64(clamping: info.size),
            fileMode: WireBytes(HTTPFrontEnd.modeString(type: info.type, mode: info.mode)), modTime: info.mtime)))
    }

    /// `files`: the directory's entries (names, and whether each is a directory), when
    /// they fit one answer.
    private func listDirectory(_ slot: Int, _ command: API.Command, _ file: API.File, _ session: Session) throws(ServiceError) {
        let path = try SessionFiles.path(file.path, of: session)
        var entries: [API.File] = []
        var bytes = command.ref.count + 64
        var cookie: UInt64 = 0
        while true {
            let page = try core.files.list(path, cookie: cookie, byteLimit: HTTPConnection.messageBytes, as: session)
            for entry in page.entries {
                bytes += entry.name.count + 8
                guard bytes <= HTTPFrontEnd.channelReplyBytes else {
                    throw ServiceError(.badRequest, String(decoding: path, as: UTF8.self) + ": more entries than one answer holds ("
                        + String(HTTPFrontEnd.channelReplyBytes) + " bytes)")
                }
                entries.append(API.File(path: entry.name.owned, type: HTTPFrontEnd.fileKind(entry.type)))
            }
            if page.done { break }
            cookie = page.nextCookie
        }
        reply(slot, to: command, .files(API.Files(files: entries)))
    }

    /// The seed's type of a file: DIRECTORY, or REGULAR for everything else (its enum
    /// has only these two).
    static func fileKind(_ type: UInt32) -> API.File.Kind {
        type == Dbg.FileType.directory.rawValue ? .directory : .regular
    }

    /// ls's way of showing a mode: the type, then rwx for owner, group and others (with
    /// s, S, t and T for the set-id and sticky bits).
    static func modeString(type: UInt32, mode: UInt32) -> [UInt8] {
        var out: [UInt8] = [Dbg.FileType.lsLetter(type)]
        let special: [(UInt32, UInt8)] = [(0o4000, UInt8(ascii: "s")), (0o2000, UInt8(ascii: "s")), (0o1000, UInt8(ascii: "t"))]
        for who in 0..<3 {
            let bits = (mode >> UInt32(6 - 3 * who)) & 7
            out.append(bits & 4 != 0 ? UInt8(ascii: "r") : UInt8(ascii: "-"))
            out.append(bits & 2 != 0 ? UInt8(ascii: "w") : UInt8(ascii: "-"))
            let (flag, letter) = special[who]
            let execute = bits & 1 != 0
            if mode & flag != 0 {
                out.append(execute ? letter : letter - 32)  // upper case: set without execute
            } else {
                out.append(execute ? UInt8(ascii: "x") : UInt8(ascii: "-"))
            }
        }
        return out
    }
}
