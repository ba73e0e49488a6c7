/// Why a payload could not be decoded or encoded. Decoding errors become BadRequest on
/// the wire, with a message naming the field; `noRoom` means the output buffer (bounded
/// by the max frame) was too small.
public enum WireError: Error, Equatable {
    /// The payload ended `missing` bytes before `field` was complete.
    case truncated(field: StaticString, missing: Int)
    /// A `bool` byte other than 0 or 1 in `field`.
    case invalidBool(field: StaticString, value: UInt8)
    /// The payload had `count` bytes left after its last field.
    case trailingBytes(count: Int)
    /// The encoded message does not fit in the `capacity` bytes available.
    case noRoom(capacity: Int)

    public var message: String {
        switch self {
        case .truncated(let field, let missing):
            return "\(field.text): payload ends \(byteCount(missing)) short of the field"
        case .invalidBool(let field, let value):
            return "\(field.text): invalid bool value \(value) (must be 0 or 1)"
        case .trailingBytes(let count):
            return "payload has \(byteCount(count)) after its last field"
        case .noRoom(let capacity):
            return "message does not fit in \(capacity) bytes"
        }
    }

    public static func == (lhs: WireError, rhs: WireError) -> Bool {
        switch (lhs, rhs) {
        case let (.truncated(a, m), .truncated(b, n)): return a.hasSameText(as: b) && m == n
        case let (.invalidBool(a, m), .invalidBool(b, n)): return a.hasSameText(as: b) && m == n
        case let (.trailingBytes(m), .trailingBytes(n)): return m == n
        case let (.noRoom(m), .noRoom(n)): return m == n
        default: return false
        }
    }
}

/// "1 byte", "2 bytes".
func byteCount(_ count: Int) -> String { count == 1 ? "1 byte" : "\(count) bytes" }

extension StaticString {
    public var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: utf8Start, count: utf8CodeUnitCount) }

    /// The literal as a String (field names are ASCII).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Byte comparison: String's == would pull Unicode normalisation into the firmware.
    func hasSameText(as other: StaticString) -> Bool { bytes.elementsEqual(other.bytes) }
}
