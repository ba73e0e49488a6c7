/// WebSocket frames as a server reads and writes them (RFC 6455 section 5), read where
/// they lie: the head is checked strictly (client frames must be masked, reserved bits
/// clear, known opcodes, control frames whole and at most 125 bytes, lengths in their
/// shortest form and within the server's limit), and a refusal carries the close code
/// to end the connection with. Server frames are never masked.
public struct WebSocketFrame: Equatable, Sendable {
    public enum Opcode: UInt8, Sendable {
        case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10

        public var isControl: Bool { rawValue >= 8 }
    }

    /// Why the connection must close, and the code to close it with.
    public struct Refusal: Error, Equatable, Sendable {
        public let code: UInt16
        public let reason: StaticString

        init(_ code: UInt16, _ reason: StaticString) {
            self.code = code
            self.reason = reason
        }

        public static func == (a: Refusal, b: Refusal) -> Bool { a.code == b.code && a.reason.utf8Start == b.reason.utf8Start }

        public static let protocolError: UInt16 = 1002
        /// A data frame of a type the endpoint does not take (text on the channel protocol).
        public static let unsupportedData: UInt16 = 1003
        public static let invalidData: UInt16 = 1007
        public static let tooBig: UInt16 = 1009
    }

    public enum Parse: Equatable, Sendable {
        case incomplete
        /// The frame's head, and how many bytes it took (the payload follows them).
        case complete(WebSocketFrame, headLength: Int)
    }

    public let fin: Bool
    public let opcode: Opcode
    public let length: UInt64
    /// The client's masking key (big-endian, as sent); nil when unmasked.
    public let mask: UInt32?

    public init(fin: Bool, opcode: Opcode, length: UInt64, mask: UInt32?) {
        self.fin = fin
        self.opcode = opcode
        self.length = length
        self.mask = mask
    }

    /// Reads a frame head at the start of `bytes`. `maxPayload` bounds data frames (1009
    /// beyond); `masked` is what the peer must do (clients mask, servers do not).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxPayload: UInt64, masked: Bool = true) throws(Refusal) -> Parse {
        guard bytes.count >= 2 else { return .incomplete }
        let first = bytes[0], second = bytes[1]
        guard first & 0x70 == 0 else { throw Refusal(Refusal.protocolError, "reserved bits set (no extension was agreed)") }
        guard let opcode = Opcode(rawValue: first & 0x0F) else { throw Refusal(Refusal.protocolError, "an unknown opcode") }
        let fin = first & 0x80 != 0
        let isMasked = second & 0x80 != 0
        guard isMasked == masked else {
            throw Refusal(Refusal.protocolError, masked ? "an unmasked client frame" : "a masked server frame")
        }
        var length = UInt64(second & 0x7F)
        var headLength = 2
        if length == 126 {
            guard bytes.count >= 4 else { return .incomplete }
            length = UInt64(bytes[2]) << 8 | UInt64(bytes[3])
            guard length >= 126 else { throw Refusal(Refusal.protocolError, "a length not in its shortest form") }
            headLength = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return .incomplete }
            length = (2..<10).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[$1]) }
            guard length >> 63 == 0 else { throw Refusal(Refusal.protocolError, "a length with its top bit set") }
            guard length > 0xFFFF else { throw Refusal(Refusal.protocolError, "a length not in its shortest form") }
            headLength = 10
        }
        if opcode.isControl {
            guard fin else { throw Refusal(Refusal.protocolError, "a fragmented control frame") }
            guard length <= 125 else { throw Refusal(Refusal.protocolError, "a control frame longer than 125 bytes") }
        } else {
            guard length <= maxPayload else { throw Refusal(Refusal.tooBig, "a frame larger than the server takes") }
        }
        var mask: UInt32?
        if isMasked {
            guard bytes.count >= headLength + 4 else { return .incomplete }
            mask = (headLength..<(headLength + 4)).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[$1]) }
            headLength += 4
        }
        return .complete(WebSocketFrame(fin: fin, opcode: opcode, length: length, mask: mask), headLength: headLength)
    }

    /// Unmasks `payload` in place; `offset` is where it starts within the frame's payload
    /// (a payload may be unmasked piece by piece).
    public static func unmask(_ payload: UnsafeMutableRawBufferPointer, key: UInt32, offset: UInt64 = 0) {
        for index in 0..<payload.count {
            let shift = (3 - Int((offset + UInt64(index)) & 3)) * 8
            payload[index] ^= UInt8(truncatingIfNeeded: key >> UInt32(shift))
        }
    }

    /// Bytes a server frame's head takes for a payload of `length`.
    public static func serverHeadLength(_ length: UInt64) -> Int { length < 126 ? 2 : length <= 0xFFFF ? 4 : 10 }

    /// Writes a server frame's head (unmasked) into `out`, which has room for
    /// `serverHeadLength(length)` bytes; returns that count.
    public static func writeServerHead(_ opcode: Opcode, fin: Bool = true, length: UInt64,
                                       into out: UnsafeMutableRawBufferPointer) -> Int {
        out[0] = (fin ? 0x80 : 0) | opcode.rawValue
        switch serverHeadLength(length) {
        case 2:
            out[1] = UInt8(length)
            return 2
        case 4:
            out[1] = 126
            out[2] = UInt8(length >> 8)
            out[3] = UInt8(length & 0xFF)
            return 4
        default:
            out[1] = 127
            for index in 0..<8 { out[2 + index] = UInt8(truncatingIfNeeded: length >> UInt64(56 - 8 * index)) }
            return 10
        }
    }

    /// Whether a close frame's code may be sent by a peer (RFC 6455 section 7.4: 1004,
    /// 1005, 1006 and 1015 are reserved, and only 1000-1014 and 3000-4999 are defined).
    public static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }
}
