import DbgWire
import DbgClient

/// SHA-256 on a thread of its own, so that `--verify` hashes what dbg sends or receives
/// while the transfer goes on instead of in between: each piece is copied into a queue
/// (copying is several times faster than hashing) and the transfer waits only when the
/// hasher is `backlog` pieces behind. (A transfer that fails leaves the thread waiting
/// for more; dbg exits then.)
final class BackgroundHasher: @unchecked Sendable {
    /// The state, in a box a thread can hold (SHA256 cannot be copied).
    private final class State {
        var hasher: SHA256
        init(_ hasher: consuming SHA256) { self.hasher = hasher }
    }

    private let state: State
    private let condition = Condition()
    private var queue: [[UInt8]] = []
    private var ended = false
    private var digest: [UInt8]?
    private let backlog = 8

    /// Starts from `hasher` (a resumed copy's prefix already in it).
    init(continuing hasher: consuming SHA256 = SHA256()) {
        state = State(hasher)
        startThread { [self] in run() }
    }

    func feed(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        let piece = [UInt8](bytes)
        condition.lock()
        while queue.count >= backlog { condition.wait() }
        queue.append(piece)
        condition.broadcast()
        condition.unlock()
    }

    /// The digest of everything fed, once the thread has hashed it all.
    func finish() -> [UInt8] {
        condition.lock()
        ended = true
        condition.broadcast()
        while digest == nil { condition.wait() }
        let result = digest!
        condition.unlock()
        return result
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !ended { condition.wait() }
            if queue.isEmpty {
                var done = SHA256()
                swap(&done, &state.hasher)
                digest = done.finish()
                condition.broadcast()
                condition.unlock()
                return
            }
            let piece = queue.removeFirst()
            condition.broadcast()
            condition.unlock()
            piece.withUnsafeBytes { state.hasher.update($0) }
        }
    }
}
