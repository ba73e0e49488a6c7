/// Writes a protobuf message into a fixed buffer (a WebSocket frame's payload), for the
/// encoders that Scripts/generate-channels writes. Singular proto3 fields at their
/// default value are left out, unless `always` says the field's presence counts (a
/// oneof member, an element of a repeated field). Output is canonical: shortest varints,
/// fields in the order written.
public struct ProtobufWriter {
    private let buffer: UnsafeMutableRawBufferPointer
    public private(set) var count = 0

    public init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    // MARK: Scalars

    public mutating func uint64(_ field: UInt32, _ value: UInt64, always: Bool = false) throws(ProtobufError) {
        guard value != 0 || always else { return }
        try key(field, .varint)
        try rawVarint(value)
    }

    public mutating func int64(_ field: UInt32, _ value: Int64, always: Bool = false) throws(ProtobufError) {
        try uint64(field, UInt64(bitPattern: value), always: always)
    }

    public mutating func uint32(_ field: UInt32, _ value: UInt32, always: Bool = false) throws(ProtobufError) {
        try uint64(field, UInt64(value), always: always)
    }

    /// Also an enum's value. A negative value takes 10 bytes, as protobuf requires.
    public mutating func int32(_ field: UInt32, _ value: Int32, always: Bool = false) throws(ProtobufError) {
        try uint64(field, UInt64(bitPattern: Int64(value)), always: always)
    }

    public mutating func bool(_ field: UInt32, _ value: Bool, always: Bool = false) throws(ProtobufError) {
        try uint64(field, value ? 1 : 0, always: always)
    }

    public mutating func sint32(_ field: UInt32, _ value: Int32, always: Bool = false) throws(ProtobufError) {
        try uint64(field, UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))), always: always)
    }

    public mutating func sint64(_ field: UInt32, _ value: Int64, always: Bool = false) throws(ProtobufError) {
        try uint64(field, UInt64(bitPattern: (value << 1) ^ (value >> 63)), always: always)
    }

    public mutating func fixed32(_ field: UInt32, _ value: UInt32, always: Bool = false) throws(ProtobufError) {
        guard value != 0 || always else { return }
        try key(field, .fixed32)
        let at = try advance(by: 4)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: at, as: UInt32.self)
    }

    public mutating func fixed64(_ field: UInt32, _ value: UInt64, always: Bool = false) throws(ProtobufError) {
        guard value != 0 || always else { return }
        try key(field, .fixed64)
        let at = try advance(by: 8)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: at, as: UInt64.self)
    }

    // MARK: Length-delimited

    /// A `bytes` or `string` field (the caller vouches for a string's UTF-8).
    public mutating func bytes(_ field: UInt32, _ value: WireBytes, always: Bool = false) throws(ProtobufError) {
        guard !value.isEmpty || always else { return }
        try key(field, .lengthDelimited)
        try rawVarint(UInt64(value.count))
        try value.withUnsafeBytes { (raw) throws(ProtobufError) in
            let at = try advance(by: raw.count)
            if let base = raw.baseAddress { (buffer.baseAddress! + at).copyMemory(from: base, byteCount: raw.count) }
        }
    }

    /// A nested message, written by `body`. Its length comes first on the wire but is
    /// known only after it: one byte is set aside, and the body moves up in the rare
    /// case its length needs more (a body of 128 bytes or more).
    public mutating func message(_ field: UInt32, _ body: (inout ProtobufWriter) throws(ProtobufError) -> Void) throws(ProtobufError) {
        try key(field, .lengthDelimited)
        let lengthAt = try advance(by: 1)
        try body(&self)
        let length = count - lengthAt - 1
        let extra = ProtobufWriter.varintSize(UInt64(length)) - 1
        if extra > 0 {
            _ = try advance(by: extra)
            let base = buffer.baseAddress! + lengthAt + 1
            (base + extra).copyMemory(from: base, byteCount: length)
        }
        store(UInt64(length), at: lengthAt)
    }

    /// The key and length of a length-delimited field whose `length` bytes the caller
    /// sends after what is written here (a streamed field).
    public mutating func streamedHead(_ field: UInt32, length: UInt64) throws(ProtobufError) {
        try key(field, .lengthDelimited)
        try rawVarint(length)
    }

    /// A packed repeated varint field (proto3's default for repeated scalars).
    public mutating func packedVarints(_ field: UInt32, _ values: [UInt64]) throws(ProtobufError) {
        guard !values.isEmpty else { return }
        try message(field) { (writer) throws(ProtobufError) in
            for value in values { try writer.rawVarint(value) }
        }
    }

    // MARK: Raw

    public static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }

    private mutating func key(_ field: UInt32, _ type: ProtobufWireType) throws(ProtobufError) {
        try rawVarint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    private mutating func rawVarint(_ value: UInt64) throws(ProtobufError) {
        store(value, at: try advance(by: ProtobufWriter.varintSize(value)))
    }

    private func store(_ value: UInt64, at offset: Int) {
        var index = offset
        var rest = value
        while rest >= 0x80 {
            buffer[index] = UInt8(truncatingIfNeeded: rest) | 0x80
            rest >>= 7
            index += 1
        }
        buffer[index] = UInt8(rest)
    }

    private mutating func advance(by size: Int) throws(ProtobufError) -> Int {
        guard size <= buffer.count - count else { throw .noRoom(capacity: buffer.count) }
        defer { count += size }
        return count
    }
}
