/// Line-by-line reading of small system text files (passwd, shadow) through one fixed
/// buffer, with field splitting that works on bytes (no String comparison).
enum TextFile {
    static let maxLineLength = 4096

    /// Calls `body` with each line (without its newline) until it returns false. Lines
    /// longer than `maxLineLength` are skipped: no valid entry is that long.
    static func forEachLine(_ path: String, _ body: (UnsafeRawBufferPointer) -> Bool) throws(Errno) {
        let fd = try FileDescriptor.open(path, writable: false)
        defer { fd.close() }
        try forEachLine(in: fd, body)
    }

    /// The same, from a file already open (and checked by the caller).
    static func forEachLine(in fd: FileDescriptor, _ body: (UnsafeRawBufferPointer) -> Bool) throws(Errno) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxLineLength, alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        var skipping = false
        while true {
            let count = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            let atEnd = count == 0
            filled += count
            var lineStart = 0
            while let newline = buffer[lineStart..<filled].firstIndex(of: 0x0a) {
                if !skipping, !body(UnsafeRawBufferPointer(rebasing: buffer[lineStart..<newline])) { return }
                skipping = false
                lineStart = newline + 1
            }
            if atEnd {
                if !skipping, lineStart < filled { _ = body(UnsafeRawBufferPointer(rebasing: buffer[lineStart..<filled])) }
                return
            }
            if lineStart == 0 && filled == buffer.count {
                skipping = true  // an overlong line: drop what we have, resync at its newline
                filled = 0
            } else if lineStart > 0 {
                (buffer.baseAddress!).copyMemory(from: buffer.baseAddress! + lineStart, byteCount: filled - lineStart)
                filled -= lineStart
            }
        }
    }

    /// The `:`-separated fields of a passwd or shadow line.
    static func fields(_ line: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var result: [UnsafeRawBufferPointer] = []
        var start = 0
        for index in 0...line.count where index == line.count || line[index] == UInt8(ascii: ":") {
            result.append(UnsafeRawBufferPointer(rebasing: line[start..<index]))
            start = index + 1
        }
        return result
    }

    /// A decimal field ("1000"); nil if empty or not a number.
    static func number(_ field: UnsafeRawBufferPointer) -> UInt64? {
        guard !field.isEmpty, field.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in field {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        return value
    }
}
