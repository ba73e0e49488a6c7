import CSys

/// Values handed to an event loop from other threads: a fixed ring under a mutex, and an
/// eventfd (`wakeup`) the loop watches, written after each push. The loop takes them all
/// with `drain` once `wakeup` is readable.
final class WakeupQueue<Element>: @unchecked Sendable {
    let wakeup: FileDescriptor
    private let lock: OpaquePointer
    private var ring: Ring<Element>

    init(capacity: Int) throws(Errno) {
        let fd = eventfd(0, CSYS_EFD_NONBLOCK_CLOEXEC)
        guard fd >= 0 else { throw .current }
        guard let lock = csys_monitor_new() else {
            FileDescriptor(fd).close()
            throw Errno(CSYS_ENOMEM)
        }
        wakeup = FileDescriptor(fd)
        self.lock = lock
        ring = Ring(capacity: capacity)
    }

    /// Queues `element` and wakes the loop; false when the ring is full, or would keep
    /// fewer than `reserve` places free (for elements that must never be refused).
    func push(_ element: Element, keepingFree reserve: Int = 0) -> Bool {
        csys_monitor_lock(lock)
        let queued = ring.count + reserve < ring.capacity && ring.push(element)
        csys_monitor_unlock(lock)
        guard queued else { return false }
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { try? wakeup.write($0) }
        return true
    }

    /// Hands every queued element to `body`, oldest first (on the loop).
    func drain(_ body: (Element) -> Void) {
        var counter: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &counter) { try? wakeup.read(into: $0) }
        while true {
            csys_monitor_lock(lock)
            let next = ring.pop()
            csys_monitor_unlock(lock)
            guard let next else { return }
            body(next)
        }
    }
}
