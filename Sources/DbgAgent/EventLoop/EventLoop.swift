import CSys

/// The whole event loop: epoll interest plus a fixed batch of ready events. It knows
/// nothing about what the descriptors are; callers register a token per descriptor and
/// get the token back when it is ready (level-triggered). One instance, shared by the
/// agent and the services that own descriptors (command pipes).
final class EventLoop {
    static let batchSize = 64

    private let epoll: FileDescriptor
    private let ready: UnsafeMutableBufferPointer<csys_ready_event>

    init() throws(Errno) {
        let fd = epoll_create1(CSYS_O_CLOEXEC)
        if fd < 0 { throw .current }
        epoll = FileDescriptor(fd)
        ready = .allocate(capacity: EventLoop.batchSize)
    }

    deinit {
        epoll.close()
        ready.deallocate()
    }

    func add(_ fd: FileDescriptor, _ interest: Interest, _ token: EventToken) throws(Errno) {
        try control(CSYS_EPOLL_CTL_ADD, fd, interest, token)
    }

    func modify(_ fd: FileDescriptor, _ interest: Interest, _ token: EventToken) throws(Errno) {
        try control(CSYS_EPOLL_CTL_MOD, fd, interest, token)
    }

    func remove(_ fd: FileDescriptor) {
        _ = csys_epoll_ctl(epoll.rawValue, CSYS_EPOLL_CTL_DEL, fd.rawValue, 0, 0)
    }

    /// Brings `fd` from its registration `current` to `wanted` (nil: out of epoll, for a
    /// descriptor that would report a hang-up on every poll, or that nothing is wanted
    /// from): adds, modifies or removes as needed. Returns what is registered afterwards;
    /// when epoll refuses, that is still `current`.
    func update(_ fd: FileDescriptor, from current: Interest?, to wanted: Interest?, _ token: EventToken) -> Interest? {
        switch (current, wanted) {
        case (nil, nil):
            return nil
        case (_?, nil):
            remove(fd)
            return nil
        case (nil, let wanted?):
            return (try? add(fd, wanted, token)) != nil ? wanted : nil
        case (let current?, let wanted?):
            guard current != wanted else { return current }
            return (try? modify(fd, wanted, token)) != nil ? wanted : current
        }
    }

    /// Waits for readiness (`timeoutMs` -1: until something happens) and calls `handle`
    /// for each ready source.
    func poll(timeoutMs: Int32, _ handle: (EventToken, Readiness) -> Void) throws(Errno) {
        let count = csys_epoll_wait(epoll.rawValue, ready.baseAddress, Int32(EventLoop.batchSize), timeoutMs)
        if count < 0 { throw .current }
        for event in ready.prefix(Int(count)) {
            guard let token = EventToken(rawValue: event.token) else { continue }
            let failed = event.events & (CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0
            handle(token, Readiness(readable: failed || event.events & CSYS_EPOLLIN != 0,
                                    writable: event.events & CSYS_EPOLLOUT != 0))
        }
    }

    private func control(_ op: Int32, _ fd: FileDescriptor, _ interest: Interest, _ token: EventToken) throws(Errno) {
        var events: UInt32 = 0
        if interest.contains(.readable) { events |= CSYS_EPOLLIN }
        if interest.contains(.writable) { events |= CSYS_EPOLLOUT }
        if csys_epoll_ctl(epoll.rawValue, op, fd.rawValue, events, token.rawValue) != 0 { throw .current }
    }
}
