import CSys

/// One timerfd that fires at the earliest deadline anyone asked for. Owners keep their
/// own deadlines and re-arm after each expiry; moving a deadline later needs no re-arm.
final class DeadlineTimer {
    let fd: FileDescriptor
    /// When the timer fires next; 0 when disarmed.
    private(set) var armedAt: Milliseconds = 0

    init() throws(Errno) {
        let raw = timerfd_create(CSYS_CLOCK_MONOTONIC, CSYS_TFD_NONBLOCK | CSYS_TFD_CLOEXEC)
        if raw < 0 { throw .current }
        fd = FileDescriptor(raw)
    }

    deinit { fd.close() }

    /// Makes the timer fire no later than `deadline`.
    func schedule(_ deadline: Milliseconds) {
        guard armedAt == 0 || deadline < armedAt else { return }
        // 0 would disarm the timerfd; any deadline in the past fires immediately.
        let when = max(deadline, 1)
        if csys_timerfd_arm(fd.rawValue, when) == 0 { armedAt = when }
    }

    /// Acknowledges an expiry; the owner then schedules its next deadline, if any.
    func acknowledge() {
        var expirations: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &expirations) { try? fd.read(into: $0) }
        armedAt = 0
    }
}
