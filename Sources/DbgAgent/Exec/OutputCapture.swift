/// One output stream of a running command: its pipe while open, and the first bytes of
/// what came through it, kept in a fixed buffer. Whatever does not fit is still read
/// (so the writer never blocks on a full pipe) and thrown away, setting `truncated`.
struct OutputCapture: ~Copyable {
    private let buffer: UnsafeMutableRawBufferPointer
    private(set) var count = 0
    private(set) var truncated = false
    /// The read end, until end of file or until the command is over.
    var pipe: OwnedDescriptor?

    init(buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    /// How many bytes are kept at most.
    var capacity: Int { buffer.count }

    mutating func start(reading pipe: consuming OwnedDescriptor) {
        count = 0
        truncated = false
        self.pipe = .some(pipe)
    }

    /// Reads what the pipe holds now. Returns true at end of file or on an error: the
    /// writer is gone and the caller stops watching the pipe.
    mutating func drain(discard: UnsafeMutableRawBufferPointer) -> Bool {
        guard let pipe = pipe?.descriptor else { return true }
        while true {
            let room = buffer.count - count
            let target = room > 0 ? UnsafeMutableRawBufferPointer(rebasing: buffer[count...]) : discard
            do throws(Errno) {
                let got = try pipe.read(into: target)
                if got == 0 { return true }
                if room > 0 { count += got } else { truncated = true }
            } catch {
                return error != .wouldBlock
            }
        }
    }

    /// Ends the kept output with `line`, giving up kept bytes if it would not fit.
    mutating func end(with line: [UInt8]) {
        guard !line.isEmpty else { return }
        let length = min(line.count, buffer.count)
        if count + length > buffer.count {
            count = buffer.count - length
            truncated = true
        }
        line.withUnsafeBytes { (buffer.baseAddress! + count).copyMemory(from: $0.baseAddress!, byteCount: length) }
        count += length
    }
}
