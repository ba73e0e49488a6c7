import CSys
import DbgWire

/// One line per event on stderr, prefixed "dbgd: ". Each line is a single write(2) so
/// lines from concurrent writers (worker threads) never interleave.
enum Log {
    nonisolated(unsafe) static var verbose = false
    /// Set once at start-up with --log-file: stderr is then that file, rotated by size.
    nonisolated(unsafe) static var file: LogFile?

    static func info(_ message: String) {
        var line = "dbgd: " + message + "\n"
        line.withUTF8 { bytes in
            if let file { file.append(UnsafeRawBufferPointer(bytes)) } else { _ = try? FileDescriptor(2).write(UnsafeRawBufferPointer(bytes)) }
        }
    }

    /// Client-supplied bytes made safe for one log line: anything but printable ASCII
    /// becomes '?', so a user name cannot forge log lines or terminal escapes.
    static func printable(_ bytes: WireBytes) -> String {
        String(decoding: bytes.bytes.map { $0 >= 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    /// Per-connection detail, printed only with --verbose.
    static func debug(_ message: @autoclosure () -> String) {
        if verbose { info(message()) }
    }
}
