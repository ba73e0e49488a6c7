import CSys

/// Threads for work that may block (PAM conversations, password hashing), so the event
/// loop never does. Jobs go in through a bounded queue; finished jobs come back to the
/// loop, which learns of them through `wakeup` (an eventfd it polls). Both queues are
/// fixed rings allocated at start-up.
final class WorkerPool<Job>: @unchecked Sendable {
    let threadCount: Int
    private let monitor: OpaquePointer
    private var pending: Ring<Job>
    private let finished: WakeupQueue<Job>
    /// Runs on a worker thread; returns false for jobs nobody waits for.
    private let perform: (inout Job) -> Bool

    /// Starts `threads` workers; at most `capacity` jobs may be queued or in progress.
    init(threads: Int, capacity: Int, stackSize: Int, perform: @escaping (inout Job) -> Bool) throws(Errno) {
        guard let monitor = csys_monitor_new() else { throw Errno(CSYS_ENOMEM) }
        finished = try WakeupQueue(capacity: capacity)
        threadCount = threads
        self.monitor = monitor
        pending = Ring(capacity: capacity)
        self.perform = perform
        for _ in 0..<threads {
            // Each thread holds the pool strongly: it lives as long as they do, which is
            // until the process exits (even if the agent's start-up fails after this).
            try startThread(stackSize: stackSize) { self.serve() }
        }
    }

    /// Queues a job; false when the queue is full (the caller answers Busy).
    func submit(_ job: Job) -> Bool {
        csys_monitor_lock(monitor)
        defer { csys_monitor_unlock(monitor) }
        guard pending.push(job) else { return false }
        csys_monitor_signal(monitor)
        return true
    }

    /// Readable when jobs have finished.
    var wakeup: FileDescriptor { finished.wakeup }

    /// Hands every finished job to `body` (on the loop, after `wakeup` was readable).
    func takeFinished(_ body: (Job) -> Void) { finished.drain(body) }

    private func serve() {
        while true {
            csys_monitor_lock(monitor)
            var job = pending.pop()
            while job == nil {
                csys_monitor_wait(monitor)
                job = pending.pop()
            }
            csys_monitor_unlock(monitor)
            guard var work = job else { continue }
            guard perform(&work) else { continue }
            // Cannot overflow: a job is in exactly one of the two rings, or on a thread.
            _ = finished.push(work)
        }
    }
}

/// A fixed-capacity FIFO. A slot is initialised when an element arrives, and the ring
/// starts over at its first slot whenever it empties, so the pages it touches follow the
/// deepest the queue has been, not its capacity (an idle agent's resident memory).
struct Ring<Element> {
    private let slots: UnsafeMutableBufferPointer<Element>
    private var head = 0
    private(set) var count = 0
    var capacity: Int { slots.count }

    init(capacity: Int) {
        slots = .allocate(capacity: capacity)
    }

    mutating func push(_ element: Element) -> Bool {
        guard count < slots.count else { return false }
        (slots.baseAddress! + (head + count) % slots.count).initialize(to: element)
        count += 1
        return true
    }

    mutating func pop() -> Element? {
        guard count > 0 else { return nil }
        let element = (slots.baseAddress! + head).move()
        count -= 1
        head = count == 0 ? 0 : (head + 1) % slots.count
        return element
    }
}

/// Starts a detached thread running `body` (which it keeps alive until the process exits).
func startThread(stackSize: Int, _ body: @escaping () -> Void) throws(Errno) {
    let retained = Unmanaged.passRetained(ThreadBody(body))
    if csys_thread_start(runThread, retained.toOpaque(), stackSize) != 0 {
        retained.release()
        throw .current
    }
}

/// What a new thread runs; passed through pthread_create's argument.
private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

private func runThread(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().run()
    return nil
}
