/// Why protobuf input could not be read, or a message could not be written. The
/// channel front end answers the first kind with an `error` body naming the field.
public enum ProtobufError: Error, Equatable {
    /// A value ran past the end of its message (a varint, a fixed value, or a length).
    case truncated(field: UInt32)
    /// A varint longer than 10 bytes, or one whose tenth byte holds more than bit 64.
    case overlongVarint(field: UInt32)
    /// Field number 0, or one past 2^29 - 1.
    case badFieldNumber
    /// A group (3, 4) or a wire type that does not exist (6, 7).
    case badWireType(UInt8)
    /// A known field sent with another wire type than its declared one.
    case wrongWireType(field: UInt32, sent: UInt8)
    /// A `string` field that is not UTF-8.
    case notUTF8(field: UInt32)
    /// Messages nested deeper than `ProtobufReader.maxDepth`.
    case tooDeep
    /// The written message does not fit in the `capacity` bytes available.
    case noRoom(capacity: Int)

    public var message: String {
        switch self {
        case .truncated(let field): return "field " + String(field) + " runs past the end of its message"
        case .overlongVarint(let field): return "field " + String(field) + ": a varint longer than 64 bits"
        case .badFieldNumber: return "a field number out of range (1 to 2^29 - 1)"
        case .badWireType(let type): return "wire type " + String(type) + " is not supported (groups are not)"
        case .wrongWireType(let field, let sent):
            return "field " + String(field) + " came with wire type " + String(sent) + ", not its declared one"
        case .notUTF8(let field): return "string field " + String(field) + " is not UTF-8"
        case .tooDeep: return "messages nested deeper than " + String(ProtobufReader.maxDepth)
        case .noRoom(let capacity): return "message does not fit in " + String(capacity) + " bytes"
        }
    }
}
