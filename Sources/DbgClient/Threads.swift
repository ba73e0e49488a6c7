#if canImport(Glibc)
import Glibc
#endif

// The client's few threads (a serial link's engine, stdin forwarding, a background
// hasher) on pthreads directly: Foundation's Thread and NSLock would bring all of
// Foundation into a client that needs nothing else of it.

/// A mutex. Its pthread value lives at a fixed address (a class holding an allocation),
/// as pthreads require.
public final class Lock: @unchecked Sendable {
    fileprivate let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A mutex with a condition variable: wait while holding it, until another thread
/// changes what is waited for and broadcasts.
public final class Condition: @unchecked Sendable {
    private let guarding = Lock()
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    public init() {
        // Timed waits count on the monotonic clock: a wall-clock step must not end or
        // stretch them.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    public func lock() { guarding.lock() }
    public func unlock() { guarding.unlock() }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try guarding.withLock(body)
    }

    /// With the lock held: releases it until a broadcast, then holds it again.
    public func wait() { pthread_cond_wait(condition, guarding.mutex) }

    /// As wait(), for at most `milliseconds`; false when the time ran out.
    public func wait(milliseconds: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(deadline.tv_nsec) + (milliseconds % 1000) * 1_000_000
        deadline.tv_sec += milliseconds / 1000 + nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_cond_timedwait(condition, guarding.mutex, &deadline) == 0
    }

    public func broadcast() { pthread_cond_broadcast(condition) }
}

/// A flag one thread raises and others wait for (a link that opened, a bridge that ended).
public final class Signal: @unchecked Sendable {
    private let condition = Condition()
    private var raised = false

    public init() {}

    public func raise() {
        condition.withLock {
            raised = true
            condition.broadcast()
        }
    }

    /// Whether it was raised within `seconds`.
    public func wait(seconds: Int) -> Bool {
        let deadline = MonotonicClock.milliseconds() + Int64(seconds) * 1000
        return condition.withLock {
            while !raised {
                let left = deadline - MonotonicClock.milliseconds()
                guard left > 0 else { return false }
                _ = condition.wait(milliseconds: Int(left))
            }
            return true
        }
    }
}

/// Runs `body` on a new detached thread.
public func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(started == 0, "pthread_create failed")
    pthread_detach(thread)
}

/// The monotonic clock, for intervals and deadlines.
public enum MonotonicClock {
    public static func milliseconds() -> Int64 { nanoseconds() / 1_000_000 }

    public static func nanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Seconds since `start` (from nanoseconds()).
    public static func seconds(since start: Int64) -> Double { Double(nanoseconds() - start) / 1e9 }

    public static func sleep(milliseconds: Int) {
        var left = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var interval = left
        while nanosleep(&interval, &left) != 0 && errno == EINTR { interval = left }
    }
}
