import CSys

/// One line per event on stderr, prefixed "dbgd: ". Each line is a single write(2) so
/// lines from concurrent writers (future worker threads) never interleave.
enum Log {
    nonisolated(unsafe) static var verbose = false

    static func info(_ message: String) {
        var line = "dbgd: " + message + "\n"
        line.withUTF8 { bytes in _ = try? FileDescriptor(2).write(UnsafeRawBufferPointer(bytes)) }
    }

    /// Per-connection detail, printed only with --verbose.
    static func debug(_ message: @autoclosure () -> String) {
        if verbose { info(message()) }
    }
}
