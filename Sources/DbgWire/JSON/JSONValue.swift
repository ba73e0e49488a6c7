/// A JSON value (RFC 8259) as the JSON front ends read and write it. Strings and keys
/// are kept as UTF-8 bytes (checked when read) and compared byte for byte; numbers are
/// kept exactly as written, so nothing is rounded on the way through. Embedded subset.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string([UInt8])
    case array([JSONValue])
    case object([JSONMember])

    public static func string(_ text: String) -> JSONValue { .string(Array(text.utf8)) }
    public static func integer(_ value: Int64) -> JSONValue { .number(JSONNumber(value)) }

    /// An object's member by key (nil for other values, or no such key).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        let wanted = Array(key.utf8)
        return members.first { $0.key == wanted }?.value
    }

    public var stringValue: String? {
        guard case .string(let bytes) = self else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    public var integerValue: Int64? {
        guard case .number(let number) = self else { return nil }
        return number.integer
    }

    public var boolValue: Bool? {
        guard case .bool(let value) = self else { return nil }
        return value
    }
}

/// One member of an object: objects keep their members in the order written.
public struct JSONMember: Equatable, Sendable {
    public var key: [UInt8]
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = Array(key.utf8)
        self.value = value
    }

    public init(key: [UInt8], value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A number as written (checked against RFC 8259's grammar): "1", "-0.5", "1e400",
/// "12345678901234567890" all keep their digits.
public struct JSONNumber: Equatable, Sendable {
    /// The number's text, ASCII.
    public let text: [UInt8]

    public init(_ value: Int64) { text = Array(String(value).utf8) }

    /// Text already checked by the reader.
    init(checked text: [UInt8]) { self.text = text }

    /// The value when it is a whole number written without fraction or exponent that fits
    /// in 64 bits; nil otherwise (its text is still exact).
    public var integer: Int64? {
        guard !text.isEmpty, !text.contains(UInt8(ascii: ".")), !text.contains(UInt8(ascii: "e")),
              !text.contains(UInt8(ascii: "E")) else { return nil }
        var value: Int64 = 0
        let negative = text[0] == UInt8(ascii: "-")
        for digit in text.dropFirst(negative ? 1 : 0) {
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let step = Int64(digit - UInt8(ascii: "0"))
            let (next, overflow2) = negative ? shifted.subtractingReportingOverflow(step) : shifted.addingReportingOverflow(step)
            if overflow1 || overflow2 { return nil }
            value = next
        }
        return value
    }
}

/// Why bytes are not a JSON text: what, and where (a byte offset).
public struct JSONError: Error, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case syntax, tooDeep, badUTF8, badEscape, duplicateKey, numberTooLong, trailing, tooLarge
    }

    public let kind: Kind
    public let offset: Int

    public init(_ kind: Kind, at offset: Int) {
        self.kind = kind
        self.offset = offset
    }

    /// One line, for an error reply.
    public var message: String {
        let what: String
        switch kind {
        case .syntax: what = "not JSON"
        case .tooDeep: what = "nested too deeply"
        case .badUTF8: what = "invalid UTF-8"
        case .badEscape: what = "invalid escape"
        case .duplicateKey: what = "a key given twice"
        case .numberTooLong: what = "a number too long"
        case .trailing: what = "text after the JSON value"
        case .tooLarge: what = "too large"
        }
        return what + " at byte " + String(offset)
    }
}
