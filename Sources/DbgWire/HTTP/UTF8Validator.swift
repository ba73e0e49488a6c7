/// UTF-8 checked as it arrives (Unicode's table 3-7: no overlong forms, no surrogates,
/// nothing past U+10FFFF), across pieces: a WebSocket text message may split a
/// character between its frames. A connection fails with 1007 at the first bad byte.
public struct UTF8Validator: Equatable, Sendable {
    /// Continuation bytes still due, and the range the next one must fall in.
    private var needed = 0
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// False at the first byte that cannot continue valid UTF-8.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes {
            if needed > 0 {
                guard byte >= lower && byte <= upper else { return false }
                (needed, lower, upper) = (needed - 1, 0x80, 0xBF)
                continue
            }
            guard let lead = UTF8Validator.lead(byte) else { return false }
            (needed, lower, upper) = (lead.needed, lead.lower, lead.upper)
        }
        return true
    }

    /// What a byte that begins a character asks of the bytes after it: how many follow,
    /// and the range the first of them must fall in (the others: 0x80...0xBF). Nil for a
    /// byte that cannot begin one; 0 following for ASCII.
    static func lead(_ byte: UInt8) -> (needed: Int, lower: UInt8, upper: UInt8)? {
        switch byte {
        case 0x00...0x7F: return (0, 0x80, 0xBF)
        case 0xC2...0xDF: return (1, 0x80, 0xBF)
        case 0xE0: return (2, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: return (2, 0x80, 0xBF)
        case 0xED: return (2, 0x80, 0x9F)
        case 0xF0: return (3, 0x90, 0xBF)
        case 0xF1...0xF3: return (3, 0x80, 0xBF)
        case 0xF4: return (3, 0x80, 0x8F)
        default: return nil
        }
    }

    /// No character is left open: where a message may end.
    public var isComplete: Bool { needed == 0 }
}
