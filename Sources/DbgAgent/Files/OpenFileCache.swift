/// Open descriptors kept between the chunks of a transfer, per (session, path,
/// direction). Bounded: when full, the least recently used one is closed. Entries also
/// close after a while unused, and with their session.
struct OpenFileCache {
    static let idleMs: Milliseconds = 10_000

    private struct Entry {
        var session: UInt64
        var path: [UInt8]
        var writable: Bool
        var fd: FileDescriptor
        var lastUsed: Milliseconds
    }

    private var entries: [Entry] = []
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        entries.reserveCapacity(capacity)
    }

    var count: Int { entries.count }

    /// The cached descriptor, or a new one from `open`.
    mutating func descriptor(session: UInt64, path: [UInt8], writable: Bool, now: Milliseconds,
                             open: () throws(Errno) -> FileDescriptor) throws(Errno) -> FileDescriptor {
        if let index = entries.firstIndex(where: { $0.session == session && $0.writable == writable && $0.path == path }) {
            entries[index].lastUsed = now
            return entries[index].fd
        }
        let fd = try open()
        if entries.count == capacity, let oldest = entries.indices.min(by: { entries[$0].lastUsed < entries[$1].lastUsed }) {
            entries[oldest].fd.close()
            entries.remove(at: oldest)
        }
        entries.append(Entry(session: session, path: path, writable: writable, fd: fd, lastUsed: now))
        return fd
    }

    /// Forgets a descriptor that turned out unusable (closing it).
    mutating func drop(_ fd: FileDescriptor) {
        guard let index = entries.firstIndex(where: { $0.fd == fd }) else { return }
        entries[index].fd.close()
        entries.remove(at: index)
    }

    /// Closes every descriptor of a session (Logout, disconnect), or of a path that is
    /// being removed or renamed (so later chunks reopen it).
    mutating func close(where matches: (UInt64, [UInt8]) -> Bool) {
        entries.removeAll { entry in
            guard matches(entry.session, entry.path) else { return false }
            entry.fd.close()
            return true
        }
    }

    /// Closes entries unused for `idleMs`; returns when the next one would be due.
    mutating func closeIdle(now: Milliseconds) -> Milliseconds? {
        entries.removeAll { entry in
            guard now - entry.lastUsed >= OpenFileCache.idleMs else { return false }
            entry.fd.close()
            return true
        }
        return entries.map { $0.lastUsed + OpenFileCache.idleMs }.min()
    }
}
