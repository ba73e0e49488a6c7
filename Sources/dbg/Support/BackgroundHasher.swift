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
    /// With segments: a digest per `segment` bytes (the last may be shorter), as the
    /// board hashes a verified push (RemoteFiles.writeHashing).
    private let segment: Int
    private var inSegment = 0
    private var segmentDigests: [[UInt8]] = []

    /// Starts from `hasher` (a resumed copy's prefix already in it).
    init(continuing hasher: consuming SHA256 = SHA256()) {
        state = State(hasher)
        segment = 0
        startThread { [self] in run() }
    }

    /// A digest for every `segment` bytes fed.
    init(segment: Int) {
        state = State(SHA256())
        self.segment = segment
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

    /// With segments: the digest of each segment, once the thread has hashed them all.
    func finishSegments() -> [[UInt8]] {
        _ = finish()
        return condition.withLock { segmentDigests }
    }

    /// The digest so far; the state starts again.
    private func takeDigest() -> [UInt8] {
        var done = SHA256()
        swap(&done, &state.hasher)
        return done.finish()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !ended { condition.wait() }
            if queue.isEmpty {
                if segment == 0 || inSegment > 0 { segmentDigests.append(takeDigest()) }
                digest = segment == 0 ? segmentDigests.removeLast() : []
                condition.broadcast()
                condition.unlock()
                return
            }
            let piece = queue.removeFirst()
            condition.broadcast()
            condition.unlock()
            piece.withUnsafeBytes { bytes in
                var rest = bytes[...]
                while segment > 0 && inSegment + rest.count >= segment {
                    let take = segment - inSegment
                    state.hasher.update(UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
                    let finished = takeDigest()
                    condition.withLock { segmentDigests.append(finished) }
                    inSegment = 0
                    rest = rest.dropFirst(take)
                }
                state.hasher.update(UnsafeRawBufferPointer(rebasing: rest))
                inSegment += rest.count
            }
        }
    }
}
