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
    /// a line when `endsMessage`, else a piece of a line too long for one frame. Bytes
    /// that are not UTF-8 become U+FFFD; a character cut by the end of a piece waits for
    /// the next. Another stream's open message is ended first (its line then continues
    /// in a new message). Returns false when the transmit buffer has no room for all of
    /// it (what went out is taken from the line buffer; the rest waits).
    mutating func sendOutput(_ stream: Int, count: Int, endsMessage: Bool) -> Bool {
        if let open = socket.openOutput, open != stream {
            guard transmitRoom >= 2 + HTTPConnection.resultRoom else { return false }
            sendFrame(.continuation, fin: true, UnsafeRawBufferPointer(start: nil, count: 0))
            socket.openOutput = nil
        }
        var remaining = count
        repeat {
            let room = transmitRoom - HTTPConnection.resultRoom - 4
            guard room >= 64 || (remaining == 0 && room >= 0) else { return false }
            let source = UnsafeRawBufferPointer(rebasing: lines[stream].readable[0..<remaining])
            let limit = min(room, HTTPConnection.maxOutputPiece)
            let (read, written) = UTF8Repair.copy(source, into: nil, maxOut: limit, final: endsMessage)
            let last = endsMessage && read == remaining
            guard read > 0 || last else { return true }  // only a cut character left: it waits
            let opcode: WebSocketFrame.Opcode = socket.openOutput == stream ? .continuation : .text
            let headLength = WebSocketFrame.serverHeadLength(UInt64(written))
            guard transmit.reserveWritable(headLength + written) else { return false }
            transmit.didWrite(WebSocketFrame.writeServerHead(opcode, fin: last, length: UInt64(written), into: transmit.writable))
            // The line buffer is read again: reserveWritable may have moved the transmit
            // bytes, never the line's.
            let again = UnsafeRawBufferPointer(rebasing: lines[stream].readable[0..<remaining])
            _ = UTF8Repair.copy(again, into: transmit.writable, maxOut: limit, final: endsMessage)
            transmit.didWrite(written)
            lines[stream].didRead(read)
            remaining -= read
            socket.openOutput = last ? nil : stream
            if last { return true }
        } while remaining > 0
        return true
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
            if let open = socket.openOutput, open != stream {
                guard transmitRoom >= 2 + HTTPConnection.resultRoom else { return false }
                sendFrame(.continuation, fin: true, UnsafeRawBufferPointer(start: nil, count: 0))
                socket.openOutput = nil
            }
            let room = transmitRoom - HTTPConnection.resultRoom - 4
            guard room >= 64 else { return false }
            let limit = min(room, HTTPConnection.maxOutputPiece)
            let done = line.withUnsafeBytes { bytes -> Bool in
                let rest = UnsafeRawBufferPointer(rebasing: bytes[socket.queuedSent...])
                let (read, written) = UTF8Repair.copy(rest, into: nil, maxOut: limit, final: true)
                let last = read == rest.count
                let opcode: WebSocketFrame.Opcode = socket.openOutput == stream ? .continuation : .text
                let headLength = WebSocketFrame.serverHeadLength(UInt64(written))
                _ = transmit.reserveWritable(headLength + written)
                transmit.didWrite(WebSocketFrame.writeServerHead(opcode, fin: last, length: UInt64(written), into: transmit.writable))
                _ = UTF8Repair.copy(rest, into: transmit.writable, maxOut: limit, final: true)
                transmit.didWrite(written)
                socket.queuedSent += read
                socket.openOutput = last ? nil : stream
                return last
            }
            if done {
                socket.queued.removeFirst()
                socket.queuedSent = 0
            }
        }
        return true
    }
}
