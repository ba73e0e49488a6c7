/// What a frame carries (header byte 2).
public enum FrameKind: UInt8 {
    case request = 1
    case response = 2
    case error = 3
    case event = 4
}

/// The 20-byte Sutra v2 header that starts every frame. Fields are kept raw so that a
/// malformed header can still be reported precisely (see `violation(maxPayload:)`).
public struct FrameHeader: Equatable, Sendable {
    public static let size = 20
    /// ASCII "S2" read as a little-endian u16.
    public static let magicValue: UInt16 = 0x3253

    public var magic: UInt16
    public var kindByte: UInt8
    public var flags: UInt8
    public var service: UInt32
    public var op: UInt16
    public var reserved: UInt16
    public var id: UInt32
    public var length: UInt32

    public init(kind: FrameKind, service: UInt32, op: UInt16, id: UInt32, length: UInt32 = 0) {
        magic = FrameHeader.magicValue
        kindByte = kind.rawValue
        flags = 0
        self.service = service
        self.op = op
        reserved = 0
        self.id = id
        self.length = length
    }

    /// Reads the header fields from the first 20 bytes of `bytes` (the caller checks the count).
    public init(parsing bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= FrameHeader.size)
        func field<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        magic = field(0, UInt16.self)
        kindByte = field(2, UInt8.self)
        flags = field(3, UInt8.self)
        service = field(4, UInt32.self)
        op = field(8, UInt16.self)
        reserved = field(10, UInt16.self)
        id = field(12, UInt32.self)
        length = field(16, UInt32.self)
    }

    public var kind: FrameKind? { FrameKind(rawValue: kindByte) }

    /// Stands for "no request in particular": an error about the whole connection
    /// (timeout, busy) is sent with id 0, service 0, op 0.
    public static let connectionLevel = FrameHeader(kind: .request, service: 0, op: 0, id: 0)

    public func encode(to writer: inout WireWriter) throws(WireError) {
        try writer.integer(magic)
        try writer.integer(kindByte)
        try writer.integer(flags)
        try writer.integer(service)
        try writer.integer(op)
        try writer.integer(reserved)
        try writer.integer(id)
        try writer.integer(length)
    }

    /// The first framing rule (docs/PROTOCOL.md, section 1) this header breaks, or nil when it is well formed.
    public func violation(maxPayload: UInt32) -> FrameViolation? {
        if magic != FrameHeader.magicValue { return .badMagic(magic) }
        if kind == nil { return .unknownKind(kindByte) }
        if flags != 0 { return .nonzeroFlags(flags) }
        if reserved != 0 { return .nonzeroReserved(reserved) }
        if length > maxPayload { return .tooLarge(length: length, max: maxPayload) }
        return nil
    }
}

public enum FrameViolation: Equatable {
    case badMagic(UInt16)
    case unknownKind(UInt8)
    case nonzeroFlags(UInt8)
    case nonzeroReserved(UInt16)
    case tooLarge(length: UInt32, max: UInt32)

    public var message: String {
        switch self {
        case .badMagic(let magic): return "bad magic 0x\(hex(UInt32(magic), digits: 4)) (expected \"S2\")"
        case .unknownKind(let kind): return "unknown frame kind \(kind)"
        case .nonzeroFlags(let flags): return "non-zero flags 0x\(hex(UInt32(flags), digits: 2))"
        case .nonzeroReserved(let reserved): return "non-zero reserved field 0x\(hex(UInt32(reserved), digits: 4))"
        case .tooLarge(let length, let max): return "frame payload of \(length) bytes exceeds the maximum of \(max)"
        }
    }
}

/// Lower-case hex with leading zeros, for log and error messages.
public func hex(_ value: UInt32, digits: Int) -> String {
    let text = String(value, radix: 16)
    let padding = digits > text.utf8.count ? digits - text.utf8.count : 0
    return String(repeating: "0", count: padding) + text
}
