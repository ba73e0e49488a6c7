import CSys
import DbgWire

/// Files larger than a message buffer through a files channel, each still one message as
/// the seed has it (`StreamedFileContent`), without a buffer of its size. A `file` answer
/// goes out as one WebSocket frame: its head, then the content read from the file into
/// the transmit buffer as it drains (nothing else is sent on the connection meanwhile).
/// A `write` whose message outgrows the message buffer has its head read from the first
/// 16 KiB, and its content goes into the file as its frames arrive; the answer follows
/// the end of the message. Both up to `channelFileBytes`.
extension HTTPFrontEnd {
    /// The most content a file answer or a write carries.
    static let channelFileBytes: UInt64 = 64 << 20

    // MARK: Answers

    /// `file {path, content}` for a regular file of `size` bytes, streamed.
    func sendFileAnswer(_ slot: Int, to command: API.Command, path: [UInt8], shownPath: WireBytes, size: UInt64) {
        do throws(ProtobufError) {
            let written = try writeBinaryFrame(slot, following: size) { (area) throws(ProtobufError) in
                try StreamedFileContent.writeHead(channel: command.channel, session: command.session, ref: command.ref,
                                                  field: StreamedFileContent.fileField, path: shownPath, contentLength: size, into: area)
            }
            guard written else { return Log.info("channels: no room for an answer") }
        } catch {
            return reply(slot, to: command, .error(WireBytes("the answer could not be written: " + error.message)))
        }
        connections[slot].socket.channels?.outgoingFile = ChannelTable.OutgoingFile(path: path, offset: 0, end: size)
        continueFileAnswer(slot)
    }

    /// More of the file answer going out, as far as the transmit buffer has room.
    /// A file that ends early or cannot be read any more leaves a frame that cannot be
    /// finished: the connection is closed, saying why in the log.
    func continueFileAnswer(_ slot: Int) {
        guard let file = connections[slot].socket.channels?.outgoingFile else { return }
        guard let session = webSocketSession(slot) else { return abandonFileAnswer(slot, "the session has ended") }
        var offset = file.offset
        while offset < file.end {
            let room = min(connections[slot].transmitRoom, Int(min(UInt64(Int.max), file.end - offset)))
            guard room > 0, connections[slot].transmit.reserveWritable(room) else { break }
            let area = UnsafeMutableRawBufferPointer(rebasing: connections[slot].transmit.writable.prefix(room))
            let count: Int
            do throws(ServiceError) {
                let descriptor = try core.files.descriptor(file.path, for: .read, mode: 0, as: session)
                do throws(Errno) {
                    count = try descriptor.read(into: area, at: offset)
                } catch {
                    throw ServiceError(error, path: file.path)
                }
            } catch {
                return abandonFileAnswer(slot, error.message)
            }
            guard count > 0 else {
                return abandonFileAnswer(slot, "the file ended at byte " + String(offset) + " of " + String(file.end) + " (it shrank while read)")
            }
            connections[slot].transmit.didWrite(count)
            offset += UInt64(count)
        }
        connections[slot].socket.channels?.outgoingFile?.offset = offset
        if offset == file.end { connections[slot].socket.channels?.outgoingFile = nil }
    }

    private func abandonFileAnswer(_ slot: Int, _ why: String) {
        Log.info("channels: a file answer to \(connections[slot].peer.description) could not be finished: " + why)
        close(slot, reason: "a file answer could not be finished")
    }

    // MARK: Writes

    /// The message buffer is full and its message goes on: it may be a write to stream.
    /// Returns false (the caller refuses the message) when it is not.
    func beginIncomingFile(_ slot: Int) -> Bool {
        let bytes = connections[slot].message.readable
        let head: StreamedFileContent.Head
        do throws(ProtobufError) {
            guard let found = try StreamedFileContent.readWriteHead(bytes) else { return false }
            head = found
        } catch {
            return false
        }
        guard head.contentLength <= HTTPFrontEnd.channelFileBytes else { return false }
        var path: [UInt8] = []
        var failure: String?
        if let index = connections[slot].socket.channels?.index(of: head.channel),
           connections[slot].socket.channels?[index].service == .files {
            if let session = webSocketSession(slot) {
                do throws(ServiceError) {
                    path = try SessionFiles.path(head.path, of: session)
                } catch {
                    failure = error.message
                }
            } else {
                failure = "the session has ended (logged out)"
            }
        } else {
            failure = "channel " + String(head.channel) + " is not an open files channel"
        }
        connections[slot].socket.channels?.incomingFile = ChannelTable.IncomingFile(
            channel: head.channel, session: head.session, ref: head.ref.bytes, path: path, length: head.contentLength, failure: failure)
        let content = UnsafeRawBufferPointer(rebasing: bytes[head.contentOffset...])
        writeIncomingFile(slot, content)
        connections[slot].message.clear()
        return true
    }

    /// Content of the write: into the file at its offset, or dropped after a failure.
    /// Returns the bytes taken (no more than the content's rest).
    @discardableResult
    func writeIncomingFile(_ slot: Int, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard var file = connections[slot].socket.channels?.incomingFile else { return 0 }
        let count = Int(min(UInt64(bytes.count), file.remaining))
        if file.failure == nil {
            if let session = webSocketSession(slot) {
                do throws(ServiceError) {
                    _ = try core.files.write(UnsafeRawBufferPointer(rebasing: bytes[0..<count]), at: file.offset, to: file.path,
                                             truncate: file.offset == 0, mode: 0o644, as: session)
                } catch {
                    file.failure = error.message
                }
            } else {
                file.failure = "the session has ended (logged out)"
            }
        }
        file.offset += UInt64(count)
        connections[slot].socket.channels?.incomingFile = file
        return count
    }

    /// The write's message has ended; what followed its content (usually the ref) is
    /// `rest`. Its answer; false while that waits for room.
    func finishIncomingFile(_ slot: Int, rest: UnsafeRawBufferPointer) -> Bool {
        guard let file = connections[slot].socket.channels?.incomingFile, hasChannelReplyRoom(slot) else { return false }
        connections[slot].socket.channels?.incomingFile = nil
        var failure = file.failure
        var answer = API.Command(channel: file.channel, session: file.session, ref: WireBytes(file.ref))
        if file.remaining > 0 {
            failure = "the message ended inside the write's content: " + String(file.offset) + " of " + String(file.length) + " bytes came"
        } else {
            do throws(ProtobufError) {
                let tail = try API.Command.decode(payload: rest)
                if !tail.ref.isEmpty { answer.ref = tail.ref }
                if tail.body != nil { failure = failure ?? "a write's content must end its body: another body followed it" }
            } catch {
                failure = failure ?? "what followed the write's content is not protobuf: " + error.message
            }
        }
        answer.body = failure.map { .error(WireBytes($0)) } ?? .ok(API.OK())
        sendCommand(slot, answer)
        return true
    }
}
