import Synchronization

/// Raised by the loop, watched by a long job on its thread: the job stops at its next
/// check and cleans up after itself.
final class CancelFlag: @unchecked Sendable {
    enum Reason: Int {
        case none = 0
        case clientGone = 1
        case shuttingDown = 2
    }

    private let raised = Atomic<Int>(0)

    func raise(_ reason: Reason) { raised.store(reason.rawValue, ordering: .releasing) }

    /// Why the job must stop, or nil while it may go on.
    var reason: String? {
        switch raised.load(ordering: .acquiring) {
        case Reason.clientGone.rawValue: return "the client disconnected"
        case Reason.shuttingDown.rawValue: return "the agent is shutting down"
        default: return nil
        }
    }
}
