import CSys

/// The application's output, line by line, in a fixed ring of bytes allocated at
/// start-up (`--app-log-size`): when a new line needs room, the oldest lines go and are
/// counted. Each line has a sequence number (never reused while the agent runs), its
/// wall-clock time and the stream it came from; readers ask for the lines after the
/// last number they saw.
final class LogRing {
    enum Stream: UInt8 {
        case stdout = 1
        case stderr = 2
        /// What the agent itself says about the application (started, exited, restarting).
        case agent = 3

        var name: String {
            switch self {
            case .stdout: return "stdout"
            case .stderr: return "stderr"
            case .agent: return "dbgd"
            }
        }
    }

    struct Line {
        let sequence: UInt64
        let wallMs: UInt64
        let stream: Stream
        /// The line was longer than `maxLine` and was cut there.
        let cut: Bool
        let text: [UInt8]
    }

    /// Longer lines are cut (and marked).
    static let maxLine = 4096
    /// sequence (8), time (8), stream (1), cut (1), length (2).
    private static let headerBytes = 20

    private let buffer: UnsafeMutableRawBufferPointer
    /// Where the oldest line starts, and how many bytes the lines take.
    private var head = 0
    private var used = 0
    private(set) var lineCount = 0
    /// The number the next line gets; the first is 1, so 0 means "from the start".
    private(set) var nextSequence: UInt64 = 1
    /// Lines pushed out to make room since the agent started.
    private(set) var dropped: UInt64 = 0
    /// Lines cut at `maxLine`.
    private(set) var cutLines: UInt64 = 0

    init(capacity: Int) {
        buffer = .allocate(byteCount: max(capacity, LogRing.headerBytes + LogRing.maxLine), alignment: 8)
    }

    deinit { buffer.deallocate() }

    var capacity: Int { buffer.count }
    var lastSequence: UInt64 { nextSequence - 1 }

    /// Appends one line (without its newline), dropping the oldest lines as needed.
    /// `cut`: the line goes on in the next one (it was longer than `maxLine`).
    func append(_ text: UnsafeRawBufferPointer, stream: Stream, cut: Bool = false, wallMs: UInt64 = csys_wall_ms()) {
        let cut = cut || text.count > LogRing.maxLine
        let length = min(text.count, LogRing.maxLine)
        let size = LogRing.headerBytes + length
        while used + size > buffer.count { dropOldest() }
        var header = [UInt8](repeating: 0, count: LogRing.headerBytes)
        LogRing.put(nextSequence, into: &header, at: 0)
        LogRing.put(wallMs, into: &header, at: 8)
        header[16] = stream.rawValue
        header[17] = cut ? 1 : 0
        header[18] = UInt8(length & 0xFF)
        header[19] = UInt8(length >> 8)
        let tail = (head + used) % buffer.count
        header.withUnsafeBytes { copyIn($0, at: tail) }
        copyIn(UnsafeRawBufferPointer(rebasing: text[0..<length]), at: (tail + LogRing.headerBytes) % buffer.count)
        used += size
        lineCount += 1
        nextSequence += 1
        if cut { cutLines += 1 }
    }

    func append(_ text: String, stream: Stream) {
        var copy = text
        copy.withUTF8 { append(UnsafeRawBufferPointer($0), stream: stream) }
    }

    /// The lines numbered after `sequence`, oldest first, at most `limit` of them and
    /// about `maxBytes` of text.
    func lines(after sequence: UInt64, limit: Int, maxBytes: Int) -> [Line] {
        var found: [Line] = []
        var bytes = 0
        var at = head
        for _ in 0..<lineCount {
            let header = copyOut(at: at, count: LogRing.headerBytes)
            let length = Int(header[18]) | Int(header[19]) << 8
            let number = LogRing.get(header, at: 0)
            if number > sequence {
                if found.count == limit || (bytes + length > maxBytes && !found.isEmpty) { break }
                found.append(Line(sequence: number, wallMs: LogRing.get(header, at: 8),
                                  stream: Stream(rawValue: header[16]) ?? .agent, cut: header[17] != 0,
                                  text: copyOut(at: (at + LogRing.headerBytes) % buffer.count, count: length)))
                bytes += length
            }
            at = (at + LogRing.headerBytes + length) % buffer.count
        }
        return found
    }

    private func dropOldest() {
        let header = copyOut(at: head, count: LogRing.headerBytes)
        let size = LogRing.headerBytes + (Int(header[18]) | Int(header[19]) << 8)
        head = (head + size) % buffer.count
        used -= size
        lineCount -= 1
        dropped += 1
    }

    /// Copies `bytes` into the ring at `offset`, wrapping at the end.
    private func copyIn(_ bytes: UnsafeRawBufferPointer, at offset: Int) {
        guard !bytes.isEmpty else { return }
        let first = min(bytes.count, buffer.count - offset)
        (buffer.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: first)
        if first < bytes.count {
            buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + first, byteCount: bytes.count - first)
        }
    }

    private func copyOut(at offset: Int, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        for index in 0..<count { out[index] = buffer[(offset + index) % buffer.count] }
        return out
    }

    private static func put(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    private static func get(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        return value
    }
}

/// Bytes from a pipe cut into lines for the ring: a partial line waits for its end
/// (or for `LogRing.maxLine` bytes, when it is passed on as a cut line).
struct LineAssembler {
    private var partial: [UInt8] = []

    mutating func feed(_ bytes: UnsafeRawBufferPointer, into ring: LogRing, stream: LogRing.Stream) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                flush(into: ring, stream: stream)
            } else {
                partial.append(byte)
                if partial.count == LogRing.maxLine {
                    partial.withUnsafeBytes { ring.append($0, stream: stream, cut: true) }
                    partial.removeAll(keepingCapacity: true)
                }
            }
        }
    }

    /// The last line without a newline, at the end of the stream.
    mutating func flush(into ring: LogRing, stream: LogRing.Stream) {
        guard !partial.isEmpty else { return }
        partial.withUnsafeBytes { ring.append($0, stream: stream) }
        partial.removeAll(keepingCapacity: true)
    }
}
