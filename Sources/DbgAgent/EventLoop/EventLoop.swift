import CSys

/// The whole event loop: epoll interest plus a fixed batch of ready events. It knows
/// nothing about what the descriptors are: each kind of source registers a handler once
/// (`register`), adds its descriptors with tokens of that kind, and its handler gets the
/// token back when one is ready (level-triggered). One instance, shared by everything
/// that owns descriptors.
final class EventLoop {
    static let batchSize = 64
    typealias Handler = (EventToken, Readiness) -> Void

    private let epoll: FileDescriptor
    private let ready: UnsafeMutableBufferPointer<csys_ready_event>
    /// Kind n's handler is at n - 1 (kind 0 is `none`).
    private var handlers: [Handler] = []

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

    /// A new kind of source whose events go to `handler` (at start-up; at most 255).
    func register(_ handler: @escaping Handler) -> EventToken.Kind {
        precondition(handlers.count < Int(UInt8.max), "more than 255 kinds of event source")
        handlers.append(handler)
        return EventToken.Kind(rawValue: UInt8(handlers.count))
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

    /// Waits for readiness (`timeoutMs` -1: until something happens), hands each ready
    /// source's token to its kind's handler, and calls `afterEach` after every one.
    func poll(timeoutMs: Int32, afterEach: () -> Void) throws(Errno) {
        let count = csys_epoll_wait(epoll.rawValue, ready.baseAddress, Int32(EventLoop.batchSize), timeoutMs)
        if count < 0 { throw .current }
        for event in ready.prefix(Int(count)) {
            let token = EventToken(rawValue: event.token)
            let kind = Int(token.kind.rawValue)
            guard kind >= 1, kind <= handlers.count else { continue }
            let failed = event.events & (CSYS_EPOLLHUP | CSYS_EPOLLERR) != 0
            handlers[kind - 1](token, Readiness(readable: failed || event.events & CSYS_EPOLLIN != 0,
                                                writable: event.events & CSYS_EPOLLOUT != 0))
            afterEach()
        }
    }

    private func control(_ op: Int32, _ fd: FileDescriptor, _ interest: Interest, _ token: EventToken) throws(Errno) {
        var events: UInt32 = 0
        if interest.contains(.readable) { events |= CSYS_EPOLLIN }
        if interest.contains(.writable) { events |= CSYS_EPOLLOUT }
        if csys_epoll_ctl(epoll.rawValue, op, fd.rawValue, events, token.rawValue) != 0 { throw .current }
    }
}
