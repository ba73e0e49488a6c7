/// DER (ITU-T X.690) for the few ASN.1 types a self-signed certificate needs: each
/// function returns one whole element (tag, length, contents).
public enum DER {
    public static func sequence(_ elements: [[UInt8]]) -> [UInt8] { element(0x30, elements.flatMap { $0 }) }
    public static func set(_ elements: [[UInt8]]) -> [UInt8] { element(0x31, elements.flatMap { $0 }) }

    /// A non-negative integer from its big-endian bytes: leading zeros dropped, and one
    /// put back when the top bit is set (DER integers are signed).
    public static func unsignedInteger(_ bigEndian: [UInt8]) -> [UInt8] {
        var bytes = Array(bigEndian.drop { $0 == 0 })
        if bytes.isEmpty || bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return element(0x02, bytes)
    }

    /// An OBJECT IDENTIFIER from its arcs (the first two packed into one byte, the rest
    /// in base 128).
    public static func objectIdentifier(_ arcs: [UInt64]) -> [UInt8] {
        precondition(arcs.count >= 2 && arcs[0] <= 2 && arcs[1] < 40)
        var contents = base128(arcs[0] * 40 + arcs[1])
        for arc in arcs.dropFirst(2) { contents += base128(arc) }
        return element(0x06, contents)
    }

    /// A BIT STRING of whole bytes (no unused bits).
    public static func bitString(_ bytes: [UInt8]) -> [UInt8] { element(0x03, [0] + bytes) }
    public static func octetString(_ bytes: [UInt8]) -> [UInt8] { element(0x04, bytes) }
    public static func utf8String(_ text: String) -> [UInt8] { element(0x0C, Array(text.utf8)) }
    /// YYMMDDHHMMSSZ: dates before 2050 (RFC 5280).
    public static func utcTime(_ text: String) -> [UInt8] { element(0x17, Array(text.utf8)) }
    /// YYYYMMDDHHMMSSZ: dates from 2050.
    public static func generalizedTime(_ text: String) -> [UInt8] { element(0x18, Array(text.utf8)) }
    /// [number] EXPLICIT, constructed.
    public static func explicit(_ number: UInt8, _ inner: [UInt8]) -> [UInt8] { element(0xA0 | number, inner) }

    public static func element(_ tag: UInt8, _ contents: [UInt8]) -> [UInt8] {
        [tag] + length(contents.count) + contents
    }

    /// Short form below 128, else 0x80 | the number of length bytes, then them.
    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    private static func base128(_ value: UInt64) -> [UInt8] {
        var bytes = [UInt8(value & 0x7F)]
        var rest = value >> 7
        while rest > 0 {
            bytes.insert(0x80 | UInt8(rest & 0x7F), at: 0)
            rest >>= 7
        }
        return bytes
    }
}
