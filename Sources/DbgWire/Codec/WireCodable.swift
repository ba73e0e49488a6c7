/// A field type or a message: something with a defined layout on the wire.
public protocol WireCodable {
    static func decode(from reader: inout WireReader) throws(WireError) -> Self
    func encode(to writer: inout WireWriter) throws(WireError)
}

extension WireCodable {
    /// Decodes a whole payload, which must be consumed exactly.
    public static func decode(payload: UnsafeRawBufferPointer, copyingBytes: Bool = false) throws(WireError) -> Self {
        var reader = WireReader(payload, copiesBytes: copyingBytes)
        let value = try decode(from: &reader)
        try reader.finish()
        return value
    }
}

public protocol WireInteger: WireCodable, FixedWidthInteger {}

extension WireInteger {
    public static func decode(from reader: inout WireReader) throws(WireError) -> Self { try reader.integer() }
    public func encode(to writer: inout WireWriter) throws(WireError) { try writer.integer(self) }
}

extension UInt8: WireInteger {}
extension UInt16: WireInteger {}
extension UInt32: WireInteger {}
extension UInt64: WireInteger {}
extension Int32: WireInteger {}
/// The seeds' `int` is Go's 64-bit int.
extension Int64: WireInteger {}

extension Bool: WireCodable {
    public static func decode(from reader: inout WireReader) throws(WireError) -> Bool {
        switch try reader.integer(UInt8.self) {
        case 0: return false
        case 1: return true
        case let other: throw .invalidBool(field: reader.field, value: other)
        }
    }

    public func encode(to writer: inout WireWriter) throws(WireError) { try writer.integer(UInt8(self ? 1 : 0)) }
}

extension WireBytes: WireCodable {
    public static func decode(from reader: inout WireReader) throws(WireError) -> WireBytes { try reader.lengthPrefixed() }
    public func encode(to writer: inout WireWriter) throws(WireError) { try writer.lengthPrefixed(self) }
}

/// `[]u32`: a u32 count, then the values.
extension Array: WireCodable where Element == UInt32 {
    public static func decode(from reader: inout WireReader) throws(WireError) -> [UInt32] {
        let count = Int(try reader.integer(UInt32.self))
        // Checked before allocating, so a forged count cannot reserve memory.
        guard count <= reader.remaining / 4 else {
            throw .truncated(field: reader.field, missing: count * 4 - reader.remaining)
        }
        var values: [UInt32] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try reader.integer()) }
        return values
    }

    public func encode(to writer: inout WireWriter) throws(WireError) {
        try writer.integer(UInt32(truncatingIfNeeded: count))
        for value in self { try writer.integer(value) }
    }
}

/// The seeds' `Empty`.
public struct Empty: WireCodable, Equatable {
    public init() {}
    public static func decode(from reader: inout WireReader) throws(WireError) -> Empty { Empty() }
    public func encode(to writer: inout WireWriter) throws(WireError) {}
}
