/// Work that has finished and whose answer waits for its connection, in the order it
/// finished. Where work ends (a reap, a worker, a timer) it is posted here; the agent
/// then moves only the connections that have something, and each one takes its own
/// completions oldest first. Nothing scans every table to find what is ready.
final class CompletionQueue {
    enum Work: Equatable {
        /// An Authenticate checked by a worker (index: attempt slot).
        case authentication(Int)
        /// A command reaped (index: command slot).
        case command(Int)
        /// A shell reaped: its last output, then its exit event (index: shell slot).
        case shellExit(Int)
        /// A file job done by a worker (index: file job slot).
        case fileJob(Int)
        /// The distro thread's Install or Remove.
        case distroJob
    }

    struct Completion: Equatable {
        let owner: ConnectionRef
        let work: Work
    }

    private var items: [Completion] = []
    /// Connections with completions posted since the agent last looked.
    private var ready: [ConnectionRef] = []

    /// `capacity`: every piece of work that can be in flight at once, so posting never
    /// allocates.
    init(capacity: Int) {
        items.reserveCapacity(capacity)
        ready.reserveCapacity(capacity)
    }

    var isEmpty: Bool { items.isEmpty }

    func post(_ work: Work, for owner: ConnectionRef) {
        items.append(Completion(owner: owner, work: work))
        if !ready.contains(owner) { ready.append(owner) }
    }

    /// Hands each connection with completions posted since the last call to `move`
    /// (once each; also those `move` itself causes to be posted), without allocating.
    func drainReady(_ move: (ConnectionRef) -> Void) {
        var index = 0
        while index < ready.count {
            move(ready[index])
            index += 1
        }
        ready.removeAll(keepingCapacity: true)
    }

    /// The oldest completion of `owner`.
    func first(of owner: ConnectionRef) -> Completion? { items.first { $0.owner == owner } }

    /// Takes a completion out once its answer is queued.
    func remove(_ completion: Completion) {
        if let index = items.firstIndex(of: completion) { items.remove(at: index) }
    }

    /// A closed connection's completions: their owners free the work themselves.
    func removeAll(of owner: ConnectionRef) {
        items.removeAll { $0.owner == owner }
    }
}
