import DbgWire

/// Output of a pipe or a PTY as the text of the channel protocol's `output` messages
/// (a protobuf string, so UTF-8): read a piece at a time behind the start of a character
/// that the last read cut off, each bad byte made U+FFFD. One per front end, allocated
/// at start-up: the loop is one thread, and each text is sent before the next read.
struct ChannelOutputText {
    /// Bytes read at a time: as UTF-8 made valid (each bad byte becomes the 3 bytes of
    /// U+FFFD) an output message fits in an answer.
    static let piece = 4 << 10
    /// The longest carry: the start of a 4-byte character.
    private static let carryBytes = 3

    private let raw: UnsafeMutableRawBufferPointer
    private let text: UnsafeMutableRawBufferPointer

    init() {
        raw = .allocate(byteCount: ChannelOutputText.piece + ChannelOutputText.carryBytes, alignment: 16)
        text = .allocate(byteCount: 3 * raw.count, alignment: 16)
    }

    var budgetBytes: Int { raw.count + text.count }

    /// Reads a piece of `fd` behind `carry`. Returns the whole characters read (possibly
    /// none), with the start of a cut one left in `carry`; nil when the read found the
    /// end (`carry` untouched: `finish` says what it held).
    func read(from fd: FileDescriptor, carry: inout [UInt8]) throws(Errno) -> UnsafeRawBufferPointer? {
        carry.withUnsafeBytes { raw.copyMemory(from: $0) }
        let area = UnsafeMutableRawBufferPointer(rebasing: raw[carry.count..<(carry.count + ChannelOutputText.piece)])
        let count = try fd.read(into: area)
        guard count > 0 else { return nil }
        return repair(UnsafeRawBufferPointer(rebasing: raw[0..<(carry.count + count)]), carry: &carry, final: false)
    }

    /// The end of the output: what `carry` held, a cut character as U+FFFD.
    func finish(_ carry: inout [UInt8]) -> UnsafeRawBufferPointer {
        carry.withUnsafeBytes { raw.copyMemory(from: $0) }
        return repair(UnsafeRawBufferPointer(rebasing: raw[0..<carry.count]), carry: &carry, final: true)
    }

    private func repair(_ input: UnsafeRawBufferPointer, carry: inout [UInt8], final: Bool) -> UnsafeRawBufferPointer {
        let (read, written) = UTF8Repair.copy(input, into: text, maxOut: text.count, final: final)
        carry = Array(input[read...])
        return UnsafeRawBufferPointer(rebasing: text[0..<written])
    }
}
