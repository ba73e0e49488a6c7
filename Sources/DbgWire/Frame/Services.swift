/// Service ids (header offset 4).
public enum ServiceID {
    public static let control: UInt32 = 0
    public static let dbg: UInt32 = 0x60
    public static let distro: UInt32 = 0x70
}

/// Error codes of the error payload (docs/PROTOCOL.md, section 3). A struct rather than an enum so a
/// client can still decode a code that a newer agent added.
public struct ErrorCode: RawRepresentable, Equatable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let badRequest = ErrorCode(rawValue: 1)
    public static let unauthenticated = ErrorCode(rawValue: 2)
    public static let denied = ErrorCode(rawValue: 3)
    public static let notFound = ErrorCode(rawValue: 4)
    public static let exists = ErrorCode(rawValue: 5)
    public static let tooLarge = ErrorCode(rawValue: 6)
    public static let busy = ErrorCode(rawValue: 7)
    public static let timeout = ErrorCode(rawValue: 8)
    public static let unsupported = ErrorCode(rawValue: 9)
    public static let internalError = ErrorCode(rawValue: 10)
    public static let io = ErrorCode(rawValue: 11)

    public var name: String {
        switch rawValue {
        case 1: return "BadRequest"
        case 2: return "Unauthenticated"
        case 3: return "Denied"
        case 4: return "NotFound"
        case 5: return "Exists"
        case 6: return "TooLarge"
        case 7: return "Busy"
        case 8: return "Timeout"
        case 9: return "Unsupported"
        case 10: return "Internal"
        case 11: return "IO"
        default: return "Error\(rawValue)"
        }
    }
}

extension ErrorCode: WireCodable {
    public static func decode(from reader: inout WireReader) throws(WireError) -> ErrorCode {
        ErrorCode(rawValue: try reader.integer())
    }
    public func encode(to writer: inout WireWriter) throws(WireError) { try writer.integer(rawValue) }
}

/// The payload of every error frame.
public struct ErrorPayload: WireCodable, Equatable {
    public var code: ErrorCode
    public var errno: Int32
    /// One human-readable line.
    public var message: WireBytes

    public init(code: ErrorCode, errno: Int32 = 0, message: WireBytes) {
        self.code = code
        self.errno = errno
        self.message = message
    }

    public static func decode(from reader: inout WireReader) throws(WireError) -> ErrorPayload {
        ErrorPayload(code: try reader.read("Code"), errno: try reader.read("Errno"), message: try reader.read("Message"))
    }

    public func encode(to writer: inout WireWriter) throws(WireError) {
        try writer.write(code)
        try writer.write(errno)
        try writer.write(message)
    }
}
