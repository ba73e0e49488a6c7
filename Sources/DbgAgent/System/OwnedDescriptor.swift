import CSys

/// A descriptor with exactly one owner (a connection's socket, a shell's PTY master, a
/// capture pipe), closed when that owner lets go of it: set to nil, replaced, or gone
/// with its scope. It cannot be copied, so a second close, or a use after the close
/// through another copy, does not compile. I/O goes through `descriptor`, a view that is
/// valid while the owner holds it.
struct OwnedDescriptor: ~Copyable {
    let descriptor: FileDescriptor

    /// Takes ownership of `rawValue` (an open descriptor).
    init(_ rawValue: Int32) { descriptor = FileDescriptor(rawValue) }

    var rawValue: Int32 { descriptor.rawValue }

    deinit { descriptor.close() }
}

/// A pipe whose two ends one owner keeps.
struct OwnedPipe: ~Copyable {
    let read: OwnedDescriptor
    let write: OwnedDescriptor

    /// pipe2 with O_CLOEXEC.
    init() throws(Errno) {
        var ends: [Int32] = [-1, -1]
        guard csys_pipe(&ends) == 0 else { throw .current }
        read = OwnedDescriptor(ends[0])
        write = OwnedDescriptor(ends[1])
    }

    /// The read end alone; the write end is closed.
    consuming func readEnd() -> OwnedDescriptor { read }

    /// The write end alone; the read end is closed.
    consuming func writeEnd() -> OwnedDescriptor { write }
}
