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
            switch byte {
            case 0x00...0x7F: continue
            case 0xC2...0xDF: needed = 1
            case 0xE0: (needed, lower) = (2, 0xA0)
            case 0xE1...0xEC, 0xEE...0xEF: needed = 2
            case 0xED: (needed, upper) = (2, 0x9F)
            case 0xF0: (needed, lower) = (3, 0x90)
            case 0xF1...0xF3: needed = 3
            case 0xF4: (needed, upper) = (3, 0x8F)
            default: return false
            }
        }
        return true
    }

    /// No character is left open: where a message may end.
    public var isComplete: Bool { needed == 0 }
}
