import DbgWire

/// Flashing a block device on the board (the Flash ops): open, a window of writes with
/// read-back checks of chosen ranges among them, then a finish that flushes and reads
/// back what was written.
public struct RemoteFlash {
    public let connection: AgentConnection
    public let token: WireBytes
    /// FlashWrite requests in flight: the agent keeps a buffer for each of this many.
    public static let window = 4
    /// Requests in flight in all (writes and checks): what the agent takes at once.
    public static let maxInFlight = 6

    public init(connection: AgentConnection, token: WireBytes) {
        self.connection = connection
        self.token = token
    }

    /// What the sender hands over next.
    public enum Piece {
        /// Image bytes at a device offset (raw), or the next bytes of a compressed stream.
        case data(offset: UInt64, UnsafeRawBufferPointer)
        /// The SHA-256 of a device range once what came before is written: of the bytes as
        /// written when they were exactly the writes since the last check, else (or with
        /// `fromDevice`) read back. `expected` is what it must be, `label` how a mismatch
        /// is reported.
        case check(offset: UInt64, length: UInt64, expected: [UInt8], label: String, fromDevice: Bool = false)
    }

    /// Opens `device`; long zeroing (Discard) reports through `progress`. `hash`: the board
    /// keeps the SHA-256 of the image as it takes it (FlashResult.Digest).
    public func open(_ device: String, imageSize: UInt64, stream: Bool, discard: Bool, force: Bool, hash: Bool = true,
                     progress: (Dbg.FlashProgressEvent) -> Void = { _ in }) throws(ClientError) -> Dbg.FlashOpened {
        try callReporting(.flashOpen, Dbg.FlashOpenRequest(token: token, device: WireBytes(device), imageSize: imageSize,
                                                           stream: stream, discard: discard, force: force, hash: hash), progress)
    }

    /// Sends every piece `next` gives (nil at the end) with `window` writes in flight;
    /// `written` hears the data bytes of the writes answered so far and the image bytes
    /// the board has taken (decoded, for a stream). Returns the labels of the checks whose
    /// read-back did not match.
    public func send(_ flash: UInt32, _ next: () throws(ClientError) -> Piece?,
                     written: (_ sent: UInt64, _ taken: UInt64) -> Void = { _, _ in }) throws(ClientError) -> [String] {
        var inFlight: [UInt32: (expected: [UInt8], label: String)?] = [:]
        var sizes: [UInt32: Int] = [:]
        var acknowledged: UInt64 = 0
        var writes = 0
        var mismatches: [String] = []
        var ended = false
        var failure: ClientError?
        while !ended || !inFlight.isEmpty {
            while !ended && writes < RemoteFlash.window && inFlight.count < RemoteFlash.maxInFlight && failure == nil {
                guard let piece = try next() else {
                    ended = true
                    break
                }
                let id = connection.makeID()
                switch piece {
                case .data(let offset, let bytes):
                    try connection.send(service: ServiceID.dbg, op: Dbg.Op.flashWrite.rawValue, id: id,
                                        Dbg.FlashWriteRequest(token: token, flashID: flash, offset: offset,
                                                              data: WireBytes(viewing: bytes)))
                    inFlight[id] = .some(nil)
                    sizes[id] = bytes.count
                    writes += 1
                case .check(let offset, let length, let expected, let label, let fromDevice):
                    try connection.send(service: ServiceID.dbg, op: Dbg.Op.flashVerify.rawValue, id: id,
                                        Dbg.FlashVerifyRequest(token: token, flashID: flash, offset: offset, length: length,
                                                               fromDevice: fromDevice))
                    inFlight[id] = (expected, label)
                }
            }
            if failure != nil { ended = true }
            guard !inFlight.isEmpty else { break }
            try connection.receive { (header, payload) throws(ClientError) in
                guard header.kind != .event, let entry = inFlight.removeValue(forKey: header.id) else { return }
                let size = sizes.removeValue(forKey: header.id) ?? 0
                do throws(ClientError) {
                    try ReceivedFrame.throwIfError(header, payload)
                    if let (expected, label) = entry {
                        let result = try ReceivedFrame.decode(header, payload, as: Dbg.HashResult.self)
                        if result.digest.bytes != expected { mismatches.append(label) }
                    } else {
                        writes -= 1
                        acknowledged += UInt64(size)
                        written(acknowledged, try ReceivedFrame.decode(header, payload, as: Dbg.FlashWriteResult.self).written)
                    }
                } catch {
                    // The rest of the window is still read, so the connection stays in step.
                    if entry == nil { writes -= 1 }
                    if failure == nil { failure = error }
                }
            }
        }
        if let failure { throw failure }
        return mismatches
    }

    /// Flushes, reads back everything written when `readBack`, and closes the device;
    /// `abort` closes it at once. Waits as long as the board takes.
    public func finish(_ flash: UInt32, readBack: Bool, abort: Bool = false,
                       progress: (Dbg.FlashProgressEvent) -> Void = { _ in }) throws(ClientError) -> Dbg.FlashResult {
        try callReporting(.flashFinish, Dbg.FlashFinishRequest(token: token, flashID: flash, readBack: readBack, abort: abort), progress)
    }

    /// A call whose FlashProgress events on the way go to `progress`.
    private func callReporting<Request: WireCodable, Response: WireCodable>(
        _ op: Dbg.Op, _ request: Request, _ progress: (Dbg.FlashProgressEvent) -> Void
    ) throws(ClientError) -> Response {
        try connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in
            try connection.call(service: ServiceID.dbg, op: op.rawValue, request) { frame in
                guard frame.header.kind == .event, frame.header.op == Dbg.Event.flashProgress.rawValue,
                      let event = try? frame.decode(Dbg.FlashProgressEvent.self) else { return }
                progress(event)
            }
        }
    }
}
