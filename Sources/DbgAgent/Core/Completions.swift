/// Work that has finished and whose answer waits for its connection, in the order it
/// finished. Where work ends (a reap, a worker, a timer) it is posted here; the agent
/// then moves only the connections that have something, and each one takes its own
/// completions oldest first. Nothing scans every table to find what is ready.
///
/// Both lists are fixed arrays sized at start-up for all the work that can be in flight:
/// posting never allocates.
final class CompletionQueue {
    enum Work: Equatable {
        /// An Authenticate checked by a worker (index: attempt slot).
        case authentication(Int)
        /// A command reaped (index: command slot).
        case command(Int)
        /// A shell reaped: its last output, then its exit event (index: shell slot).
        case shellExit(Int)
        /// A streaming process reaped: its last output and credit, then its exit event
        /// (index: stream slot).
        case processExit(Int)
        /// A file job done by a worker (index: file job slot).
        case fileJob(Int)
        /// The distro thread's Install or Remove.
        case distroJob
        /// A flash request's progress event or answer (index: `Flasher` entry).
        case flash(Int)
        /// A JSON-RPC message to the application runtime whose calls have all finished
        /// (index: message slot of `AppRuntime`).
        case appAnswer(Int)
    }

    struct Completion: Equatable {
        let owner: ConnectionRef
        let work: Work
    }

    private let items: UnsafeMutableBufferPointer<Completion>
    private var count = 0
    /// Connections with completions posted since the agent last looked.
    private let ready: UnsafeMutableBufferPointer<ConnectionRef>
    private var readyCount = 0

    init(capacity: Int) {
        items = .allocate(capacity: capacity)
        ready = .allocate(capacity: capacity)
    }

    deinit {
        items.deallocate()
        ready.deallocate()
    }

    var isEmpty: Bool { count == 0 }

    /// Every post has room: the capacity counts every piece of work that can finish.
    func post(_ work: Work, for owner: ConnectionRef) {
        precondition(count < items.count, "more completions than work in flight")
        (items.baseAddress! + count).initialize(to: Completion(owner: owner, work: work))
        count += 1
        if !ready[0..<readyCount].contains(owner) {
            (ready.baseAddress! + readyCount).initialize(to: owner)
            readyCount += 1
        }
    }

    /// Hands each connection with completions posted since the last call to `move`
    /// (once each; also those `move` itself causes to be posted).
    func drainReady(_ move: (ConnectionRef) -> Void) {
        var index = 0
        while index < readyCount {
            move(ready[index])
            index += 1
        }
        readyCount = 0
    }

    /// The oldest completion of `owner`.
    func first(of owner: ConnectionRef) -> Completion? {
        for index in 0..<count where items[index].owner == owner { return items[index] }
        return nil
    }

    /// Takes a completion out once its answer is queued.
    func remove(_ completion: Completion) {
        removeAll { $0 == completion }
    }

    /// A closed connection's completions: their owners free the work themselves.
    func removeAll(of owner: ConnectionRef) {
        removeAll { $0.owner == owner }
    }

    /// Keeps the others in order.
    private func removeAll(where matches: (Completion) -> Bool) {
        var kept = 0
        for index in 0..<count where !matches(items[index]) {
            items[kept] = items[index]
            kept += 1
        }
        count = kept
    }
}
