/// The one bounds-checked writer every encoder uses: little-endian fields appended to a
/// fixed buffer (the agent's transmit buffer, or a client's frame buffer).
public struct WireWriter {
    private let buffer: UnsafeMutableRawBufferPointer
    public private(set) var count = 0

    public init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    public var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    public mutating func write<F: WireCodable>(_ value: F) throws(WireError) {
        try value.encode(to: &self)
    }

    public mutating func integer<T: FixedWidthInteger>(_ value: T) throws(WireError) {
        let at = try advance(by: MemoryLayout<T>.size)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: at, as: T.self)
    }

    public mutating func lengthPrefixed(_ bytes: WireBytes) throws(WireError) {
        try integer(UInt32(truncatingIfNeeded: bytes.count))
        try bytes.withUnsafeBytes { (raw) throws(WireError) in try append(raw) }
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        let at = try advance(by: bytes.count)
        if let base = bytes.baseAddress { (buffer.baseAddress! + at).copyMemory(from: base, byteCount: bytes.count) }
    }

    /// Skips `size` bytes (e.g. a header written once the payload length is known).
    public mutating func reserve(_ size: Int) throws(WireError) -> Int { try advance(by: size) }

    public func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    private mutating func advance(by size: Int) throws(WireError) -> Int {
        guard size <= buffer.count - count else { throw .noRoom(capacity: buffer.count) }
        defer { count += size }
        return count
    }
}
