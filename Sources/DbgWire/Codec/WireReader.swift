/// The one bounds-checked reader every decoder uses. Reads little-endian fields from a
/// payload in place; `[]byte` and `string` fields come back as views into it unless
/// `copiesBytes` is set (clients that keep decoded values after the buffer is reused).
public struct WireReader {
    private let bytes: UnsafeRawBufferPointer
    private let copiesBytes: Bool
    public private(set) var position = 0
    /// The seed name of the field being read, for error messages.
    public private(set) var field: StaticString = "payload"

    public init(_ bytes: UnsafeRawBufferPointer, copiesBytes: Bool = false) {
        self.bytes = bytes
        self.copiesBytes = copiesBytes
    }

    public var remaining: Int { bytes.count - position }

    /// Reads the field named `field` in the seed (named in the error if it is malformed).
    public mutating func read<F: WireCodable>(_ field: StaticString, as _: F.Type = F.self) throws(WireError) -> F {
        self.field = field
        return try F.decode(from: &self)
    }

    public mutating func integer<T: FixedWidthInteger>(_: T.Type = T.self) throws(WireError) -> T {
        let raw = try take(MemoryLayout<T>.size)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    /// A `u32` length followed by that many bytes.
    public mutating func lengthPrefixed() throws(WireError) -> WireBytes {
        let length = try integer(UInt32.self)
        let raw = try take(Int(length))
        return copiesBytes ? WireBytes(Array(raw)) : WireBytes(viewing: raw)
    }

    public mutating func take(_ count: Int) throws(WireError) -> UnsafeRawBufferPointer {
        guard count <= remaining else { throw .truncated(field: field, missing: count - remaining) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + count])
        position += count
        return slice
    }

    /// Payloads must be consumed exactly.
    public func finish() throws(WireError) {
        if remaining != 0 { throw .trailingBytes(count: remaining) }
    }
}
