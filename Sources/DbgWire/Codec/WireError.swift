/// Why a payload could not be decoded or encoded. Decoding errors become BadRequest on
/// the wire; `noRoom` means the output buffer (bounded by the max frame) was too small.
public enum WireError: Error, Equatable {
    /// The payload ended `missing` bytes before the field being read was complete.
    case truncated(missing: Int)
    /// A `bool` byte other than 0 or 1.
    case invalidBool(UInt8)
    /// The payload had `count` bytes left after its last field.
    case trailingBytes(count: Int)
    /// The encoded message does not fit in the `capacity` bytes available.
    case noRoom(capacity: Int)

    public var message: String {
        switch self {
        case .truncated(let missing): return "payload truncated: \(missing) more bytes needed"
        case .invalidBool(let value): return "invalid bool value \(value) (must be 0 or 1)"
        case .trailingBytes(let count): return "payload has \(count) trailing bytes"
        case .noRoom(let capacity): return "message does not fit in \(capacity) bytes"
        }
    }
}
