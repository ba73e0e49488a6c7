import CSys
import DbgWire

/// The WebSocket API (seed 003) at /api/v1/ws/: the handshake, frames read piece by
/// piece as they arrive (RFC 6455: masked, fragmented, control frames between), the
/// binary JSON messages (CallMessage, SignalMessage) and the text lines that go to the
/// call's stdin.
extension HTTPFrontEnd {
    // MARK: Handshake

    /// `channels`: the channel protocol (seed 004) at /wsv2/TOKEN, whose token is the
    /// path's; else the calls of seed 003, whose token is the header's, cookie's or query's.
    func upgrade(_ slot: Int, _ request: HTTPRequest, channels: Bool) {
        let head = request.head
        guard head.upgradeWebSocket, head.connectionUpgrade else {
            return answer(slot, request, .error(426, "a WebSocket handshake is expected here (Upgrade: websocket, Connection: Upgrade)",
                                                fields: ["Upgrade: websocket"]))
        }
        guard head.isHTTP11 else { return answer(slot, request, .error(400, "a WebSocket handshake needs HTTP/1.1")) }
        guard let version = head.secWebSocketVersion, HTTPRequestHead.equal(request.bytes, version, "13") else {
            return answer(slot, request, .error(426, "only WebSocket version 13 is served", fields: ["Sec-WebSocket-Version: 13"]))
        }
        guard let key = head.secWebSocketKey, let accept = WebSocketHandshake.accept(key: Array(request.bytes[key])) else {
            return answer(slot, request, .error(400, "Sec-WebSocket-Key: expected 16 bytes in base64"))
        }
        guard request.body.isEmpty else { return answer(slot, request, .error(400, "a WebSocket handshake has no body")) }
        guard let (_, session) = channels ? channelSession(request) : currentSession(request, allowQuery: true) else {
            return answer(slot, request, .error(401, channels ? "log in first (POST /api/v1/auth), then open /wsv2/TOKEN"
                                                              : "log in first (POST /api/v1/auth), then give the cookie or ?token=TOKEN"))
        }
        let reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
            + String(decoding: accept, as: UTF8.self) + "\r\n\r\n"
        connections[slot].send(Array(reply.utf8))
        connections[slot].receive.didRead(request.body.lowerBound)  // what follows the head are frames
        connections[slot].phase = .webSocket
        connections[slot].socket = WebSocketState()
        connections[slot].socket.sessionSerial = session.serial
        let now = MonotonicClock.now()
        connections[slot].lastActivity = now
        if channels {
            #if !DBG_NO_CHANNELS
            connections[slot].socket.channels = ChannelTable()
            channelsOpened(slot)
            #endif
        } else {
            core.timer.schedule(now + config.handshakeTimeoutMs)
        }
    }

    // MARK: Frames in

    /// A call's input waits for room in its process's input window; a channel
    /// connection's next message waits for room for its answer.
    func inputBlocked(_ slot: Int) -> Bool {
        #if !DBG_NO_CHANNELS
        if connections[slot].socket.channels != nil && !hasChannelReplyRoom(slot) { return true }
        #endif
        return connections[slot].socket.waitingForRoom
    }

    /// Reads the frames received so far; false when nothing moved.
    func readFrames(_ slot: Int) -> Bool {
        var progressed = false
        while connections[slot].phase == .webSocket && !connections[slot].closeAfterFlush {
            #if !DBG_NO_CHANNELS
            if connections[slot].socket.messagePending {
                guard channelMessage(slot, connections[slot].message.readable) else { return progressed }
                connections[slot].socket.messagePending = false
                connections[slot].message.clear()
            }
            #endif
            if connections[slot].socket.newlineDue {
                guard deliverInput(slot, [0x0A]) else { return progressed }
                connections[slot].socket.newlineDue = false
            }
            if connections[slot].socket.inFrame {
                guard readPayload(slot) else { return progressed }
            } else {
                // A channel connection's next message waits for room for its answer.
                guard connections[slot].socket.channels == nil || !inputBlocked(slot), readFrameHead(slot) else { return progressed }
            }
            progressed = true
        }
        return progressed
    }

    /// The largest binary message taken: the message buffer, or for a channel
    /// connection a write whose content streams into its file.
    private func maxBinaryMessage(_ slot: Int) -> UInt64 {
        #if !DBG_NO_CHANNELS
        if connections[slot].socket.channels != nil { return HTTPFrontEnd.channelFileBytes + UInt64(connections[slot].message.capacity) }
        #endif
        return UInt64(connections[slot].message.capacity)
    }

    /// A frame's head (a control frame whole); false when more bytes are needed.
    private func readFrameHead(_ slot: Int) -> Bool {
        let bytes = connections[slot].receive.readable
        let parsed: WebSocketFrame.Parse
        do throws(WebSocketFrame.Refusal) {
            parsed = try WebSocketFrame.parse(bytes, maxPayload: UInt64(Int64.max))
        } catch {
            fail(slot, error.code, error.reason.text)
            return true
        }
        guard case .complete(let frame, let headLength) = parsed else { return false }
        if frame.opcode.isControl {
            guard bytes.count >= headLength + Int(frame.length) else { return false }
            let payload = UnsafeMutableRawBufferPointer(mutating: UnsafeRawBufferPointer(rebasing: bytes[headLength..<(headLength + Int(frame.length))]))
            WebSocketFrame.unmask(payload, key: frame.mask ?? 0)
            connections[slot].receive.didRead(headLength)
            control(slot, frame.opcode, UnsafeRawBufferPointer(payload))
            if connections[slot].isOpen { connections[slot].receive.didRead(min(Int(frame.length), connections[slot].receive.readableCount)) }
            return true
        }
        if frame.opcode == .continuation {
            guard connections[slot].socket.messageOpcode != nil else {
                fail(slot, WebSocketFrame.Refusal.protocolError, "a continuation frame outside a message")
                return true
            }
        } else {
            guard connections[slot].socket.messageOpcode == nil else {
                fail(slot, WebSocketFrame.Refusal.protocolError, "a new message before the previous one ended")
                return true
            }
            if frame.opcode == .text && connections[slot].socket.channels != nil {
                fail(slot, WebSocketFrame.Refusal.unsupportedData, "a text frame: channels take binary frames, each one api.Command")
                return true
            }
            connections[slot].socket.messageOpcode = frame.opcode
            connections[slot].socket.messageLength = 0
            connections[slot].socket.utf8 = UTF8Validator()
            connections[slot].socket.textLength = 0
            connections[slot].socket.heldEndOfInput = false
        }
        if connections[slot].socket.messageOpcode == .binary {
            connections[slot].socket.messageLength += frame.length
            guard connections[slot].socket.messageLength <= maxBinaryMessage(slot) else {
                fail(slot, WebSocketFrame.Refusal.tooBig, "a binary message larger than " + String(maxBinaryMessage(slot)) + " bytes")
                return true
            }
        }
        connections[slot].receive.didRead(headLength)
        connections[slot].socket.inFrame = true
        connections[slot].socket.frameRemaining = frame.length
        connections[slot].socket.frameMask = frame.mask ?? 0
        connections[slot].socket.frameOffset = 0
        connections[slot].socket.frameFinal = frame.fin
        if frame.length == 0 { frameDone(slot) }
        return true
    }

    /// Some of a data frame's payload; false when none is there or the process's input
    /// window is full.
    private func readPayload(_ slot: Int) -> Bool {
        let available = min(connections[slot].socket.frameRemaining, UInt64(connections[slot].receive.readableCount))
        guard available > 0 else { return false }
        var count = Int(available)
        let isText = connections[slot].socket.messageOpcode == .text
        if isText, let room = inputRoom(slot) {
            count = min(count, max(0, room - 1))  // a held U+0004 may come first
            guard count > 0 else {
                connections[slot].socket.waitingForRoom = true
                return false
            }
        }
        var intoFile = false
        if !isText {
            #if !DBG_NO_CHANNELS
            // A channel connection's write larger than the message buffer: its content
            // goes into the file (`+ChannelFileStreams`).
            if connections[slot].socket.channels != nil && connections[slot].message.writable.isEmpty
                && connections[slot].socket.channels?.incomingFile == nil && !beginIncomingFile(slot) {
                fail(slot, WebSocketFrame.Refusal.tooBig, "a binary message larger than " + String(connections[slot].message.capacity)
                    + " bytes that is not a write with its content last")
                return true
            }
            if let remaining = connections[slot].socket.channels?.incomingFile?.remaining, remaining > 0 {
                count = Int(min(UInt64(count), remaining))
                intoFile = true
            }
            #endif
            if !intoFile {
                count = min(count, connections[slot].message.writable.count)
                guard count > 0 else {
                    fail(slot, WebSocketFrame.Refusal.tooBig, "a binary message larger than " + String(connections[slot].message.capacity) + " bytes")
                    return true
                }
            }
        }
        let payload = UnsafeMutableRawBufferPointer(mutating: UnsafeRawBufferPointer(rebasing: connections[slot].receive.readable[0..<count]))
        WebSocketFrame.unmask(payload, key: connections[slot].socket.frameMask, offset: connections[slot].socket.frameOffset)
        if isText {
            guard connections[slot].socket.utf8.feed(UnsafeRawBufferPointer(payload)) else {
                fail(slot, WebSocketFrame.Refusal.invalidData, "a text frame that is not UTF-8")
                return true
            }
            text(slot, UnsafeRawBufferPointer(payload))
        } else if intoFile {
            #if !DBG_NO_CHANNELS
            writeIncomingFile(slot, UnsafeRawBufferPointer(payload))
            #endif
        } else {
            connections[slot].message.writable.copyMemory(from: UnsafeRawBufferPointer(payload))
            connections[slot].message.didWrite(count)
        }
        guard connections[slot].isOpen, connections[slot].phase == .webSocket else { return true }
        connections[slot].receive.didRead(count)
        connections[slot].socket.frameRemaining -= UInt64(count)
        connections[slot].socket.frameOffset += UInt64(count)
        if connections[slot].socket.frameRemaining == 0 { frameDone(slot) }
        return true
    }

    private func frameDone(_ slot: Int) {
        connections[slot].socket.inFrame = false
        guard connections[slot].socket.frameFinal, let opcode = connections[slot].socket.messageOpcode else { return }
        connections[slot].socket.messageOpcode = nil
        if opcode == .text {
            guard connections[slot].socket.utf8.isComplete else {
                return fail(slot, WebSocketFrame.Refusal.invalidData, "a text message that ends inside a character")
            }
            textEnded(slot)
        } else if connections[slot].socket.channels != nil {
            #if !DBG_NO_CHANNELS
            guard channelMessage(slot, connections[slot].message.readable) else {
                connections[slot].socket.messagePending = true  // handed in again by readFrames
                return
            }
            #endif
            connections[slot].message.clear()
        } else {
            let bytes = Array(connections[slot].message.readable)
            connections[slot].message.clear()
            controlMessage(slot, bytes)
        }
    }

    private func control(_ slot: Int, _ opcode: WebSocketFrame.Opcode, _ payload: UnsafeRawBufferPointer) {
        switch opcode {
        case .ping:
            connections[slot].sendFrame(.pong, fin: true, payload)
        case .close:
            var code: UInt16 = 1000
            if payload.count == 1 { return fail(slot, WebSocketFrame.Refusal.protocolError, "a close frame with a 1-byte body") }
            if payload.count >= 2 {
                code = UInt16(payload[0]) << 8 | UInt16(payload[1])
                guard WebSocketFrame.isValidCloseCode(code) else {
                    return fail(slot, WebSocketFrame.Refusal.protocolError, "a close code that may not be sent")
                }
                var reason = UTF8Validator()
                guard reason.feed(UnsafeRawBufferPointer(rebasing: payload[2...])), reason.isComplete else {
                    return fail(slot, WebSocketFrame.Refusal.invalidData, "a close reason that is not UTF-8")
                }
            }
            // The peer closes: the call is cancelled (its process group ends with the
            // connection) and the close is answered.
            if !connections[slot].socket.closeSent {
                if case .running = connections[slot].socket.stage { cancel(slot) }
                sendResult(slot, success: false, message: "the client closed the connection")  // not on channels
                sendClose(slot, code: payload.count >= 2 ? code : 1000)
            }
            connections[slot].closeAfterFlush = true
            connections[slot].closeReason = "WebSocket closed by the peer"
        default:
            break  // pong
        }
    }

    // MARK: Messages

    /// A binary message: the CallMessage first, then SignalMessages.
    private func controlMessage(_ slot: Int, _ bytes: [UInt8]) {
        let value: JSONValue
        do throws(JSONError) {
            value = try JSONReader.parse(bytes, maxDepth: 16, maxBytes: HTTPConnection.messageBytes)
        } catch {
            return fail(slot, 1008, "a binary message that is not JSON: " + error.message)
        }
        switch connections[slot].socket.stage {
        case .awaitingCall:
            guard case .string(let name)? = value["call"] else {
                return fail(slot, 1008, "the first message must be a CallMessage {\"call\": NAME, \"params\": [...]}")
            }
            call(slot, name, value["params"] ?? .array([]))
        case .running, .app, .installing:
            guard case .string(let signal)? = value["signal"] else {
                return fail(slot, 1008, "after the CallMessage only SignalMessages {\"signal\": \"cancel\"} may come")
            }
            if signal == Array("cancel".utf8) {
                cancel(slot)
            } else if signal == Array("eof".utf8) {
                endInput(slot)
            } else {
                fail(slot, 1008, "unknown signal '" + String(decoding: signal, as: UTF8.self) + "' (cancel, eof)")
            }
        case .finished:
            break
        }
    }

    /// Input bytes of a text message: to stdin while the call runs, else dropped.
    private func text(_ slot: Int, _ bytes: UnsafeRawBufferPointer) {
        switch connections[slot].socket.stage {
        case .awaitingCall:
            return fail(slot, 1008, "a text frame before the CallMessage")
        case .finished, .app, .installing:
            return  // no process reads input
        case .running:
            guard !connections[slot].socket.inputClosed else { return }
        }
        if connections[slot].socket.textLength == 0 && bytes.count == 1 && bytes[0] == 0x04 {
            connections[slot].socket.textLength = 1
            connections[slot].socket.heldEndOfInput = true
            return
        }
        if connections[slot].socket.heldEndOfInput {
            connections[slot].socket.heldEndOfInput = false
            _ = deliverInput(slot, [0x04])  // readPayload kept a byte of room for it
        }
        connections[slot].socket.textLength += UInt64(bytes.count)
        feed(slot, bytes)
    }

    /// A text message ended: its newline goes to stdin, or (U+0004 alone) the input ends.
    private func textEnded(_ slot: Int) {
        guard case .running = connections[slot].socket.stage, !connections[slot].socket.inputClosed else { return }
        if connections[slot].socket.heldEndOfInput && connections[slot].socket.textLength == 1 {
            connections[slot].socket.heldEndOfInput = false
            return endInput(slot)
        }
        if !deliverInput(slot, [0x0A]) { connections[slot].socket.newlineDue = true }
    }
}
