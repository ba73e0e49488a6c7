/// Reads one JSON text (RFC 8259), strictly: UTF-8 checked (no overlong forms, no
/// surrogates, nothing past U+10FFFF), escapes checked (a \u surrogate must be paired),
/// no control characters in strings, no duplicate keys, nothing but whitespace after the
/// value. Bounded: `maxBytes` of input, `maxDepth` of nesting (so the recursion is too),
/// numbers of at most 256 characters. What comes from a peer is read with it as it is.
public struct JSONReader {
    public static let maxNumberLength = 256

    private let bytes: UnsafeRawBufferPointer
    private let maxDepth: Int
    private var position = 0

    private init(_ bytes: UnsafeRawBufferPointer, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64, maxBytes: Int = 16 << 20)
        throws(JSONError) -> JSONValue {
        guard bytes.count <= maxBytes else { throw JSONError(.tooLarge, at: maxBytes) }
        var reader = JSONReader(bytes, maxDepth: maxDepth)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw JSONError(.trailing, at: reader.position) }
        return value
    }

    public static func parse(_ text: [UInt8], maxDepth: Int = 64, maxBytes: Int = 16 << 20) throws(JSONError) -> JSONValue {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: text.count, alignment: 1)
        defer { copy.deallocate() }
        copy.copyBytes(from: text)
        return try parse(UnsafeRawBufferPointer(copy), maxDepth: maxDepth, maxBytes: maxBytes)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
    }

    private mutating func value(depth: Int) throws(JSONError) -> JSONValue {
        guard let byte = current else { throw JSONError(.syntax, at: position) }
        switch byte {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw JSONError(.syntax, at: position)
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw JSONError(.syntax, at: position) }
        let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
        for index in 0..<count where bytes[position + index] != expected[index] { throw JSONError(.syntax, at: position + index) }
        position += count
    }

    private mutating func object(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        var members: [JSONMember] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw JSONError(.syntax, at: position) }
            let keyAt = position
            let key = try string()
            if members.contains(where: { $0.key == key }) { throw JSONError(.duplicateKey, at: keyAt) }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw JSONError(.syntax, at: position) }
            position += 1
            skipWhitespace()
            members.append(JSONMember(key: key, value: try value(depth: depth)))
            skipWhitespace()
            guard let next = current else { throw JSONError(.syntax, at: position) }
            position += 1
            if next == UInt8(ascii: "}") { return .object(members) }
            guard next == UInt8(ascii: ",") else { throw JSONError(.syntax, at: position - 1) }
        }
    }

    private mutating func array(depth: Int) throws(JSONError) -> JSONValue {
        guard depth <= maxDepth else { throw JSONError(.tooDeep, at: position) }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value(depth: depth))
            skipWhitespace()
            guard let next = current else { throw JSONError(.syntax, at: position) }
            position += 1
            if next == UInt8(ascii: "]") { return .array(elements) }
            guard next == UInt8(ascii: ",") else { throw JSONError(.syntax, at: position - 1) }
        }
    }

    /// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private mutating func number() throws(JSONError) -> JSONNumber {
        let start = position
        if current == UInt8(ascii: "-") { position += 1 }
        func digits(_ reader: inout JSONReader) -> Int {
            var count = 0
            while let byte = reader.current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                reader.position += 1
                count += 1
            }
            return count
        }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if digits(&self) == 0 {
            throw JSONError(.syntax, at: position)
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard digits(&self) > 0 else { throw JSONError(.syntax, at: position) }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard digits(&self) > 0 else { throw JSONError(.syntax, at: position) }
        }
        guard position - start <= JSONReader.maxNumberLength else { throw JSONError(.numberTooLong, at: start) }
        return JSONNumber(checked: Array(bytes[start..<position]))
    }

    /// A string's content as UTF-8, escapes resolved.
    private mutating func string() throws(JSONError) -> [UInt8] {
        position += 1  // the opening quote
        var out: [UInt8] = []
        while true {
            guard let byte = current else { throw JSONError(.syntax, at: position) }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return out
            case UInt8(ascii: "\\"):
                try escape(into: &out)
            case 0..<0x20:
                throw JSONError(.syntax, at: position)  // control characters must be escaped
            case 0x20..<0x80:
                out.append(byte)
                position += 1
            default:
                try utf8Sequence(into: &out)
            }
        }
    }

    private mutating func escape(into out: inout [UInt8]) throws(JSONError) {
        let at = position
        position += 1
        guard let kind = current else { throw JSONError(.badEscape, at: at) }
        position += 1
        switch kind {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(kind)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4(at: at)
            if scalar >= 0xD800 && scalar < 0xDC00 {
                // A high surrogate: its low half must follow as \uDC00-\uDFFF.
                guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                      bytes[position + 1] == UInt8(ascii: "u") else { throw JSONError(.badEscape, at: at) }
                position += 2
                let low = try hex4(at: at)
                guard low >= 0xDC00 && low < 0xE000 else { throw JSONError(.badEscape, at: at) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar < 0xE000 {
                throw JSONError(.badEscape, at: at)  // a low half alone
            }
            JSONWriter.appendUTF8(scalar, to: &out)
        default:
            throw JSONError(.badEscape, at: at)
        }
    }

    private mutating func hex4(at escapeStart: Int) throws(JSONError) -> UInt32 {
        guard bytes.count - position >= 4 else { throw JSONError(.badEscape, at: escapeStart) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw JSONError(.badEscape, at: escapeStart)
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    /// One multi-byte UTF-8 sequence, checked (RFC 3629: shortest form, no surrogates,
    /// at most U+10FFFF), copied as it is.
    private mutating func utf8Sequence(into out: inout [UInt8]) throws(JSONError) {
        let start = position
        let lead = bytes[position]
        let length: Int
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF: length = 2; scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF: length = 3; scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4: length = 4; scalar = UInt32(lead & 0x07)
        default: throw JSONError(.badUTF8, at: start)
        }
        guard bytes.count - position >= length else { throw JSONError(.badUTF8, at: start) }
        for index in 1..<length {
            let next = bytes[position + index]
            guard next & 0xC0 == 0x80 else { throw JSONError(.badUTF8, at: start) }
            scalar = scalar << 6 | UInt32(next & 0x3F)
        }
        let shortest: UInt32 = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000
        guard scalar >= shortest, scalar <= 0x10FFFF, !(scalar >= 0xD800 && scalar < 0xE000) else {
            throw JSONError(.badUTF8, at: start)
        }
        for index in 0..<length { out.append(bytes[position + index]) }
        position += length
    }
}
