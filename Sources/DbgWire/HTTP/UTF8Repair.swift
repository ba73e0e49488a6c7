/// Bytes made valid UTF-8 for a WebSocket text frame: a process's output may be any
/// bytes, a text frame must be UTF-8 (RFC 6455 section 8.1). Valid characters are
/// copied; every byte that does not begin or continue one becomes U+FFFD.
public enum UTF8Repair {
    public static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

    /// Copies from `input` into `out` (nil: only counts) at most `maxOut` bytes. An
    /// incomplete character at the end of `input` is left unread unless `final` (more may
    /// follow). Returns the bytes read and written.
    public static func copy(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer?, maxOut: Int,
                            final: Bool) -> (read: Int, written: Int) {
        var read = 0
        var written = 0
        while read < input.count {
            let length = sequenceLength(input, at: read)
            if length == 0 {
                // A prefix of a valid character cut by the end of the input.
                if !final { break }
            }
            let valid = length > 0
            let produced = valid ? length : 3
            guard written + produced <= maxOut else { break }
            if let out {
                if valid {
                    for index in 0..<length { out[written + index] = input[read + index] }
                } else {
                    for index in 0..<3 { out[written + index] = replacement[index] }
                }
            }
            written += produced
            // A bad byte is replaced alone: the next one is looked at anew, so a valid
            // character right after a stray byte survives.
            read += valid ? length : 1
        }
        return (read, written)
    }

    /// The length of the valid character at `start`; 0 when the input ends inside a valid
    /// prefix of one; -1 when the bytes there are not valid UTF-8.
    private static func sequenceLength(_ input: UnsafeRawBufferPointer, at start: Int) -> Int {
        guard let (needed, lower, upper) = UTF8Validator.lead(input[start]) else { return -1 }
        if needed == 0 { return 1 }
        for step in 1...needed {
            guard start + step < input.count else { return 0 }
            let byte = input[start + step]
            guard byte >= (step == 1 ? lower : 0x80) && byte <= (step == 1 ? upper : 0xBF) else { return -1 }
        }
        return needed + 1
    }
}
