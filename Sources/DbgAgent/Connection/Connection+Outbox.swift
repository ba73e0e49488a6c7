import CSys
import DbgWire

/// The connection as an outbox: answers, errors and events queued in the transmit
/// buffer, and the frames whose data is put in place without a copy (spliced file
/// chunks, PTY output). Services say what to send; the layouts are DbgWire's.
extension Connection {
    /// Room any answer to posted work needs, but captured output and file chunks (which
    /// reserve their own): the largest, SessionInfo, is bounded by a passwd line.
    static let answerRoom = FrameHeader.size + 2 * TextFile.maxLineLength

    /// Queues the response to `request`; nothing for a one-way request (id 0).
    mutating func respond<M: WireCodable>(to request: FrameHeader, with message: M) {
        respond(to: request) { (writer) throws(WireError) in try message.encode(to: &writer) }
    }

    /// `respond(to:with:)` with the payload written by `payload`: the one copy of the
    /// answering logic that every message type's `respond` calls.
    private mutating func respond(to request: FrameHeader, payload: (inout WireWriter) throws(WireError) -> Void) {
        guard request.id != 0 else { return }
        let header = FrameHeader(kind: .response, service: request.service, op: request.op, id: request.id)
        do throws(WireError) {
            try queue(header, payload)
        } catch {
            fail(request, .tooLarge, "response does not fit in the frame limit: \(error.message)")
        }
    }

    /// Queues an error frame answering `request` (also for one-way requests, with id 0).
    mutating func fail(_ request: FrameHeader, _ code: ErrorCode, errno: Int32 = 0, _ message: String) {
        let header = FrameHeader(kind: .error, service: request.service, op: request.op, id: request.id)
        let payload = ErrorPayload(code: code, errno: errno, message: WireBytes(message))
        if (try? queue(header) { (writer) throws(WireError) in try payload.encode(to: &writer) }) == nil {
            // Only possible if the dispatch room rule was broken: end the connection loudly.
            state = .closingAfterFlush
            closeReason = "no room to queue an error frame"
        }
    }

    /// Queues an event frame (id 0).
    mutating func emit<M: WireCodable>(service: UInt32, op: UInt16, _ message: M) -> Bool {
        (try? queue(FrameHeader(kind: .event, service: service, op: op, id: 0)) { (writer) throws(WireError) in
            try message.encode(to: &writer)
        }) != nil
    }

    enum RelayOutcome {
        /// This many bytes went into an event.
        case relayed(Int)
        /// Nothing to read now.
        case nothingNew
        /// The source reports the end (0 bytes, EIO from a PTY whose slave is closed).
        case ended
        /// The read failed otherwise (a socket reset): what a stream's end reports; for
        /// pipes and PTYs the same as `ended`.
        case failed(Errno)
        /// No room in the transmit buffer.
        case noRoom
    }

    /// Reads from `source` straight into a ShellOutput-shaped event frame in the transmit
    /// buffer ({SessionID u32, Data []byte}): no copy in between.
    mutating func relayOutput(from source: FileDescriptor, sessionID: UInt32, service: UInt32, op: UInt16,
                              limit: Int) -> RelayOutcome {
        let prefix = FrameHeader.size + ShellData.bytesBeforeData
        let maxData = min(limit, Int(peerMaxPayload) - ShellData.bytesBeforeData)
        guard maxData > 0, transmit.reserveWritable(prefix + 1) else { return .noRoom }
        let space = transmit.writable
        let room = min(maxData, space.count - prefix)
        let got: Int
        do throws(Errno) {
            got = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: space[prefix..<(prefix + room)]))
        } catch {
            if error == .wouldBlock { return .nothingNew }
            return error.code == CSYS_EIO ? .ended : .failed(error)
        }
        if got == 0 { return .ended }
        var writer = WireWriter(UnsafeMutableRawBufferPointer(rebasing: space[0..<prefix]))
        do throws(WireError) {
            try FrameHeader(kind: .event, service: service, op: op, id: 0,
                            length: UInt32(ShellData.bytesBeforeData + got)).encode(to: &writer)
            try ShellData.encodeBeforeData(sessionID: sessionID, dataLength: got, to: &writer)
        } catch {
            return .noRoom  // cannot happen: the prefix was reserved
        }
        transmit.didWrite(prefix + got)
        return .relayed(got)
    }

    // MARK: File chunks

    /// Queues a FileChunk answer whose `length` data bytes wait in the splice pipe: they
    /// go out after its header and before its Eof (see `flush`).
    mutating func queueSplicedChunk(answering request: FrameHeader, length: Int, eof: Bool) throws(ServiceError) {
        try queueChunkHeader(answering: request, length: length)
        spliceAfter = transmit.readableCount
        spliceRemaining = length
        try queueChunkTrailer(eof: eof)
    }

    /// Queues a FileChunk answer whose data `fill` reads straight into the transmit
    /// buffer, at most `limit` bytes; `fill` returns how many and whether the file ended.
    mutating func queueFilledChunk(answering request: FrameHeader, limit: Int,
                                   _ fill: (UnsafeMutableRawBufferPointer) throws(ServiceError) -> (count: Int, eof: Bool))
        throws(ServiceError) {
        let dataStart = FrameHeader.size + Dbg.FileChunk.bytesBeforeData
        // The dispatch rule leaves room for any answer, so this only fails on a bug.
        guard transmit.reserveWritable(dataStart + limit + Dbg.FileChunk.bytesAfterData) else {
            throw ServiceError(.internalError, "no room for a chunk")
        }
        let space = transmit.writable
        let (count, eof) = try fill(UnsafeMutableRawBufferPointer(rebasing: space[dataStart..<(dataStart + limit)]))
        try queueChunkHeader(answering: request, length: count)
        transmit.didWrite(count)
        try queueChunkTrailer(eof: eof)
    }

    /// A FileChunk's frame header and the fields before its data.
    private mutating func queueChunkHeader(answering request: FrameHeader, length: Int) throws(ServiceError) {
        let header = FrameHeader(kind: .response, service: request.service, op: request.op, id: request.id,
                                 length: UInt32(Dbg.FileChunk.bytesBeforeData + length + Dbg.FileChunk.bytesAfterData))
        var writer = WireWriter(transmit.writable)
        do throws(WireError) {
            try header.encode(to: &writer)
            try Dbg.FileChunk.encodeBeforeData(dataLength: length, to: &writer)
        } catch {
            throw ServiceError(.internalError, "no room for a chunk header")
        }
        transmit.didWrite(writer.count)
    }

    private mutating func queueChunkTrailer(eof: Bool) throws(ServiceError) {
        _ = transmit.reserveWritable(Dbg.FileChunk.bytesAfterData)
        var writer = WireWriter(transmit.writable)
        do throws(WireError) {
            try Dbg.FileChunk.encodeAfterData(eof: eof, to: &writer)
        } catch {
            throw ServiceError(.internalError, "no room for a chunk trailer")
        }
        transmit.didWrite(writer.count)
    }

    private mutating func queue(_ header: FrameHeader, _ payload: (inout WireWriter) throws(WireError) -> Void)
        throws(WireError) {
        transmit.didWrite(try header.encodeFrame(into: transmit.writable, maxPayload: peerMaxPayload, payload: payload))
    }
}
