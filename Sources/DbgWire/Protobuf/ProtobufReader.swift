/// Protobuf's wire types. Groups (3 and 4) are deprecated and nothing in the channel
/// protocol uses them: they are refused, as are 6 and 7.
public enum ProtobufWireType: UInt8, Sendable {
    case varint = 0
    case fixed64 = 1
    case lengthDelimited = 2
    case fixed32 = 5
}

/// Reads one protobuf message in place, field by field, for the decoders that
/// Scripts/generate-channels writes. Every length is checked against what is left,
/// varints are at most 10 bytes, nesting stops at `maxDepth`, `string` fields must be
/// UTF-8 (as proto3 requires), and a field read with the wrong wire type is an error.
/// `bytes` and `string` values are views into the input (valid while it is).
public struct ProtobufReader {
    /// Messages within messages: deeper input is refused before any recursion.
    public static let maxDepth = 16

    private let bytes: UnsafeRawBufferPointer
    private var position = 0
    public let depth: Int
    /// The field `nextField` found, for the value readers and errors.
    public private(set) var field: UInt32 = 0
    public private(set) var wireType = ProtobufWireType.varint

    public init(_ bytes: UnsafeRawBufferPointer, depth: Int = 0) {
        self.bytes = bytes
        self.depth = depth
    }

    public var isAtEnd: Bool { position == bytes.count }

    /// The next field's number (its wire type in `wireType`), or nil at the end.
    public mutating func nextField() throws(ProtobufError) -> UInt32? {
        guard !isAtEnd else { return nil }
        let key = try rawVarint()
        let number = key >> 3
        guard number >= 1 && number <= 0x1FFF_FFFF else { throw .badFieldNumber }
        guard let type = ProtobufWireType(rawValue: UInt8(key & 7)) else { throw .badWireType(UInt8(key & 7)) }
        field = UInt32(number)
        wireType = type
        return field
    }

    /// Passes over a field no decoder knows (as protobuf requires of unknown fields).
    public mutating func skip() throws(ProtobufError) {
        switch wireType {
        case .varint: _ = try rawVarint()
        case .fixed64: _ = try take(8)
        case .fixed32: _ = try take(4)
        case .lengthDelimited: _ = try take(length())
        }
    }

    // MARK: Scalars

    public mutating func uint64() throws(ProtobufError) -> UInt64 {
        try expect(.varint)
        return try rawVarint()
    }

    public mutating func int64() throws(ProtobufError) -> Int64 { Int64(bitPattern: try uint64()) }
    public mutating func uint32() throws(ProtobufError) -> UInt32 { UInt32(truncatingIfNeeded: try uint64()) }
    /// Also an enum's value (proto3 enums are open: unknown values are kept).
    public mutating func int32() throws(ProtobufError) -> Int32 { Int32(truncatingIfNeeded: try uint64()) }
    public mutating func bool() throws(ProtobufError) -> Bool { try uint64() != 0 }

    public mutating func sint32() throws(ProtobufError) -> Int32 {
        let raw = UInt32(truncatingIfNeeded: try uint64())
        return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func sint64() throws(ProtobufError) -> Int64 {
        let raw = try uint64()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    public mutating func fixed32() throws(ProtobufError) -> UInt32 {
        try expect(.fixed32)
        return try take(4).loadUnaligned(as: UInt32.self).littleEndian
    }

    public mutating func fixed64() throws(ProtobufError) -> UInt64 {
        try expect(.fixed64)
        return try take(8).loadUnaligned(as: UInt64.self).littleEndian
    }

    // MARK: Length-delimited

    public mutating func bytesValue() throws(ProtobufError) -> WireBytes {
        try expect(.lengthDelimited)
        return WireBytes(viewing: try take(length()))
    }

    public mutating func string() throws(ProtobufError) -> WireBytes {
        let value = try bytesValue()
        var validator = UTF8Validator()
        let valid = value.withUnsafeBytes { validator.feed($0) && validator.isComplete }
        guard valid else { throw .notUTF8(field: field) }
        return value
    }

    /// How far into its bytes the reader is.
    public var offset: Int { position }

    /// The length of the length-delimited field `nextField` found, leaving its bytes,
    /// which need not be at hand: a streamed field whose value follows later.
    public mutating func streamedLength() throws(ProtobufError) -> UInt64 {
        try expect(.lengthDelimited)
        return try rawVarint()
    }

    /// A nested message's reader.
    public mutating func message() throws(ProtobufError) -> ProtobufReader {
        try expect(.lengthDelimited)
        guard depth < ProtobufReader.maxDepth else { throw .tooDeep }
        return ProtobufReader(try take(length()), depth: depth + 1)
    }

    /// A repeated varint field's values, packed (one run) or not (one value per field).
    public mutating func packedVarints() throws(ProtobufError) -> [UInt64] {
        guard wireType == .lengthDelimited else { return [try uint64()] }
        var run = ProtobufReader(try take(length()), depth: depth)
        var values: [UInt64] = []
        while !run.isAtEnd { values.append(try run.rawVarint()) }
        return values
    }

    // MARK: Raw

    private func expect(_ type: ProtobufWireType) throws(ProtobufError) {
        guard wireType == type else { throw .wrongWireType(field: field, sent: wireType.rawValue) }
    }

    private mutating func rawVarint() throws(ProtobufError) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<10 {
            guard position < bytes.count else { throw .truncated(field: field) }
            let byte = bytes[position]
            position += 1
            // The tenth byte holds the 64th bit only.
            guard index < 9 || byte <= 1 else { throw .overlongVarint(field: field) }
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte & 0x80 == 0 { return value }
        }
        throw .overlongVarint(field: field)
    }

    private mutating func length() throws(ProtobufError) -> Int {
        let length = try rawVarint()
        guard length <= UInt64(bytes.count - position) else { throw .truncated(field: field) }
        return Int(length)
    }

    private mutating func take(_ count: Int) throws(ProtobufError) -> UnsafeRawBufferPointer {
        guard count <= bytes.count - position else { throw .truncated(field: field) }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
    }
}
