import CSys

/// A raw descriptor with typed I/O; EINTR is retried inside every call. Ownership is
/// explicit: whoever stores it (a listener, a connection slot) closes it exactly once.
struct FileDescriptor: Equatable {
    let rawValue: Int32

    init(_ rawValue: Int32) { self.rawValue = rawValue }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { systemRead(rawValue, buffer.baseAddress, buffer.count) }
    }

    /// pread: at `offset`, without moving the file position.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(Errno) -> Int {
        try retryingInterrupts { pread(rawValue, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(Errno) -> Int {
        try retryingInterrupts { systemWrite(rawValue, bytes.baseAddress, bytes.count) }
    }

    /// pwrite: at `offset`, without moving the file position.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(Errno) -> Int {
        try retryingInterrupts { pwrite(rawValue, bytes.baseAddress, bytes.count, off_t(offset)) }
    }

    /// Writes all of `bytes` (at `offset`, or where the file stands when nil); on a
    /// failure, `written` says how much went out before it. For blocking descriptors and
    /// regular files: a non-blocking one that is full fails with EAGAIN.
    func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: UInt64? = nil, written: inout Int) throws(Errno) {
        written = 0
        while written < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
            if let offset {
                written += try write(rest, at: offset + UInt64(written))
            } else {
                written += try write(rest)
            }
        }
    }

    /// Moves up to `count` bytes from this descriptor (at `offset`, which advances, when
    /// given) to `target`, without a copy through user space; one end must be a pipe.
    func splice(to target: FileDescriptor, count: Int, offset: inout Int64, nonblocking: Bool = false) throws(Errno) -> Int {
        try retryingInterrupts { csys_splice(rawValue, &offset, target.rawValue, count, nonblocking ? 1 : 0) }
    }

    /// The same from the current position (a pipe).
    func splice(to target: FileDescriptor, count: Int, nonblocking: Bool) throws(Errno) -> Int {
        try retryingInterrupts { csys_splice(rawValue, nil, target.rawValue, count, nonblocking ? 1 : 0) }
    }

    /// Closes the descriptor. EINTR is not retried: on Linux the descriptor is gone anyway.
    func close() { _ = systemClose(rawValue) }

    /// Runs `body`, then closes the descriptor, whatever `body` did.
    func closeAfter<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        defer { close() }
        return try body()
    }

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
