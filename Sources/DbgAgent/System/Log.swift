import CSys

/// One line per event on stderr, prefixed "dbgd: ". Each line is a single write(2) so
/// lines from concurrent writers (future worker threads) never interleave.
public enum Log {
    nonisolated(unsafe) public static var verbose = false

    public static func info(_ message: String) {
        var line = "dbgd: " + message + "\n"
        line.withUTF8 { bytes in _ = try? FileDescriptor(2).write(UnsafeRawBufferPointer(bytes)) }
    }

    /// Per-connection detail, printed only with --verbose.
    public static func debug(_ message: @autoclosure () -> String) {
        if verbose { info(message()) }
    }
}
