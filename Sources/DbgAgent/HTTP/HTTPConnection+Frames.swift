import DbgWire

/// What a WebSocket connection sends: frames written straight into the transmit buffer,
/// and a process's output turned into text messages, one per line.
extension HTTPConnection {
    /// Room kept in the transmit buffer for the ResultMessage and the close frame, so
    /// that output never crowds them out.
    static let resultRoom = 1024
    /// The largest output frame's payload: a longer line goes out as a fragmented
    /// message (its pieces as continuation frames).
    static let maxOutputPiece = 16 << 10

    /// One unmasked frame; false (nothing written) when it does not fit.
    @discardableResult
    mutating func sendFrame(_ opcode: WebSocketFrame.Opcode, fin: Bool = true, _ payload: UnsafeRawBufferPointer) -> Bool {
        let headLength = WebSocketFrame.serverHeadLength(UInt64(payload.count))
        guard transmit.reserveWritable(headLength + payload.count) else { return false }
        let written = WebSocketFrame.writeServerHead(opcode, fin: fin, length: UInt64(payload.count), into: transmit.writable)
        transmit.didWrite(written)
        if !payload.isEmpty {
            transmit.writable.copyMemory(from: payload)
            transmit.didWrite(payload.count)
        }
        return true
    }

    @discardableResult
    mutating func sendFrame(_ opcode: WebSocketFrame.Opcode, _ payload: [UInt8]) -> Bool {
        payload.withUnsafeBytes { sendFrame(opcode, fin: true, $0) }
    }

    /// The first `count` bytes of output stream `stream`'s line buffer as text: the end of
    /// a line when `endsMessage`, else a piece of a line too long for one frame. A
    /// character cut by the end of a piece waits for the next. Returns false when the
    /// transmit buffer has no room for all of it (what went out is taken from the line
    /// buffer; the rest waits).
    mutating func sendOutput(_ stream: Int, count: Int, endsMessage: Bool) -> Bool {
        guard endOpenOutput(except: stream) else { return false }
        var remaining = count
        repeat {
            let source = UnsafeRawBufferPointer(rebasing: lines[stream].readable[0..<remaining])
            guard let (read, last) = sendPiece(source, of: stream, endsMessage: endsMessage) else { return false }
            if read == 0 && !last { return true }  // only a cut character left: it waits
            lines[stream].didRead(read)
            remaining -= read
            if last { return true }
        } while remaining > 0
        return true
    }

    /// Another output's open message is ended first (its line then continues in a new
    /// message); false when there is no room for that.
    private mutating func endOpenOutput(except stream: Int) -> Bool {
        guard let open = socket.openOutput, open != stream else { return true }
        guard transmitRoom >= 2 + HTTPConnection.resultRoom else { return false }
        sendFrame(.continuation, fin: true, UnsafeRawBufferPointer(start: nil, count: 0))
        socket.openOutput = nil
        return true
    }

    /// One text frame of output `stream` from `source`, at most a piece and what room
    /// allows (the result's room kept), that ends the message when all of `source` went
    /// and `endsMessage`. Bytes that are not UTF-8 become U+FFFD. Returns the bytes of
    /// `source` taken and whether the message ended; nil when there is no room.
    private mutating func sendPiece(_ source: UnsafeRawBufferPointer, of stream: Int,
                                    endsMessage: Bool) -> (read: Int, last: Bool)? {
        let room = transmitRoom - HTTPConnection.resultRoom - 4
        guard room >= 64 || (source.isEmpty && room >= 0) else { return nil }
        let limit = min(room, HTTPConnection.maxOutputPiece)
        let (read, written) = UTF8Repair.copy(source, into: nil, maxOut: limit, final: endsMessage)
        let last = endsMessage && read == source.count
        guard read > 0 || last else { return (0, false) }
        let opcode: WebSocketFrame.Opcode = socket.openOutput == stream ? .continuation : .text
        let headLength = WebSocketFrame.serverHeadLength(UInt64(written))
        guard transmit.reserveWritable(headLength + written) else { return nil }
        transmit.didWrite(WebSocketFrame.writeServerHead(opcode, fin: last, length: UInt64(written), into: transmit.writable))
        _ = UTF8Repair.copy(source, into: transmit.writable, maxOut: limit, final: endsMessage)
        transmit.didWrite(written)
        socket.openOutput = last ? nil : stream
        return (read, last)
    }

    /// Sends every complete line of stream `stream` (without its LF, or CR LF); a full
    /// buffer without a line end goes out as a piece. False when output waits for room.
    mutating func sendLines(_ stream: Int) -> Bool {
        while !lines[stream].isEmpty {
            let readable = lines[stream].readable
            if let newline = readable.firstIndex(of: 0x0A) {
                let end = newline > 0 && readable[newline - 1] == 0x0D ? newline - 1 : newline
                guard sendOutput(stream, count: end, endsMessage: true) else { return false }
                lines[stream].didRead(newline - end + 1)
                continue
            }
            // No line end yet: a full buffer goes out as a piece, so reading can go on.
            guard lines[stream].readableCount == lines[stream].capacity else { return true }
            guard sendOutput(stream, count: lines[stream].readableCount, endsMessage: false) else { return false }
            if lines[stream].readableCount == lines[stream].capacity { return false }
        }
        return true
    }

    /// The process has ended: what is left of each stream's last line goes out as a line.
    mutating func sendLastLines() -> Bool {
        for stream in 0..<2 {
            guard sendLines(stream) else { return false }
            if !lines[stream].isEmpty || socket.openOutput == stream {
                guard sendOutput(stream, count: lines[stream].readableCount, endsMessage: true) else { return false }
            }
        }
        return true
    }

    /// The queued lines (`socket.queued`) as text messages, a long one in pieces; true
    /// when all are out.
    mutating func sendQueued() -> Bool {
        let stream = 2  // an output of its own for `openOutput`
        while let line = socket.queued.first {
            guard endOpenOutput(except: stream) else { return false }
            let sent = line.withUnsafeBytes { bytes in
                sendPiece(UnsafeRawBufferPointer(rebasing: bytes[socket.queuedSent...]), of: stream, endsMessage: true)
            }
            guard let (read, last) = sent else { return false }
            socket.queuedSent += read
            if last {
                socket.queued.removeFirst()
                socket.queuedSent = 0
            }
        }
        return true
    }
}
