import CSys

/// A raw descriptor with typed, EINTR-safe I/O. Ownership is explicit: whoever stores
/// it (a listener, a connection slot) closes it exactly once.
struct FileDescriptor: Equatable {
    let rawValue: Int32

    init(_ rawValue: Int32) { self.rawValue = rawValue }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { systemRead(rawValue, buffer.baseAddress, buffer.count) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { systemWrite(rawValue, bytes.baseAddress, bytes.count) }
    }

    /// Closes the descriptor. EINTR is not retried: on Linux the descriptor is gone anyway.
    func close() { _ = systemClose(rawValue) }

    func setNonblocking() throws(Errno) {
        if csys_set_nonblocking(rawValue) != 0 { throw .current }
    }

    /// Opens `path` read/write (or read-only), close-on-exec.
    static func open(_ path: String, writable: Bool) throws(Errno) -> FileDescriptor {
        let flags = (writable ? CSYS_O_RDWR : CSYS_O_RDONLY) | CSYS_O_CLOEXEC
        return FileDescriptor(try retryingInterrupts { path.withCString { csys_open($0, flags) } })
    }
}

// Free functions, so that methods named read and write can call the C ones without shadowing.
func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, bytes, count) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
