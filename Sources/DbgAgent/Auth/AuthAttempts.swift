import DbgWire

/// The Authenticate requests between arrival and answer, and the rule for when each may
/// run. Password guesses are paced per peer address, not per connection or per attempt:
/// - a peer has at most one attempt running; its others wait, in arrival order, up to
///   `maxPerPeer` (more is Busy);
/// - after failures, a peer's next attempt starts only when the throttle delay since its
///   last failure is over; waiting holds a table entry, never a worker;
/// - at most `maxRunning` (`--max-auth`) run at once, so one address can hold at most one
///   worker and the others stay free for everyone else.
struct AuthAttempts {
    /// Attempts that may wait for their turn, beyond the running ones.
    static let maxWaiting = 32
    static let maxPerPeer = 4

    static func capacity(_ config: AgentConfig) -> Int { config.maxAuthInFlight + maxWaiting }

    /// Grows (never shrinks) up to `capacity` as attempts overlap, within storage
    /// reserved at start-up: an agent nobody logs in to touches none of it.
    private(set) var slots: [AuthAttempt?] = []
    let maxRunning: Int
    var capacity: Int { maxRunning + AuthAttempts.maxWaiting }
    private var arrivals: UInt64 = 0

    init(maxRunning: Int) {
        self.maxRunning = maxRunning
        slots.reserveCapacity(capacity)
    }

    subscript(index: Int) -> AuthAttempt? {
        get { slots[index] }
        set { slots[index] = newValue }
    }

    var indices: Range<Int> { slots.indices }

    enum Admission {
        case accepted(Int)
        case busy(String)
    }

    /// Takes a new attempt into the table (waiting); `start` decides when it runs.
    mutating func admit(_ attempt: AuthAttempt, peerDescription: String) -> Admission {
        let fromPeer = slots.reduce(0) { count, slot in
            guard let slot, slot.peer == attempt.peer, slot.isPending else { return count }
            return count + 1
        }
        guard fromPeer < AuthAttempts.maxPerPeer else {
            return .busy("\(fromPeer) authentications from \(peerDescription) are already in progress; try again")
        }
        guard let index = slots.firstIndex(where: { $0 == nil }) ?? (slots.count < capacity ? slots.count : nil) else {
            return .busy("\(capacity) authentications are already in progress; try again")
        }
        if index == slots.count { slots.append(nil) }
        var admitted = attempt
        arrivals += 1
        admitted.arrival = arrivals
        if case .waiting(var job) = attempt.state {
            job.attempt = index
            admitted.state = .waiting(job)
        }
        slots[index] = admitted
        return .accepted(index)
    }

    /// Starts the waiting attempts whose turn has come, oldest first, through `submit`.
    /// Returns when the next one may be due. (The worker queue holds a job for every
    /// slot; should it refuse one anyway, the attempt waits for the next round.)
    mutating func startDue(now: Milliseconds, throttle: AuthThrottle, _ submit: (AuthJob) -> Bool) -> Milliseconds? {
        var next: Milliseconds?
        var running = slots.reduce(0) { $0 + ($1?.isRunning == true ? 1 : 0) }
        var previous: UInt64 = 0
        while running < maxRunning, let index = oldestWaiting(after: previous) {
            let attempt = slots[index]!
            previous = attempt.arrival
            guard case .waiting(let job) = attempt.state else { continue }
            if slots.contains(where: { $0?.peer == attempt.peer && $0?.isRunning == true }) { continue }
            let startAt = throttle.earliestStart(for: attempt.peer, now: now)
            if startAt > now {
                next = min(next ?? startAt, startAt)
                continue
            }
            guard submit(job) else { break }
            slots[index]!.state = .running
            running += 1
        }
        return next
    }

    /// The waiting attempt that arrived first after arrival number `previous`. (A scan
    /// per step: the table is small, and a sort would cost more code than it saves.)
    private func oldestWaiting(after previous: UInt64) -> Int? {
        var found: Int?
        for index in slots.indices {
            guard let slot = slots[index], slot.isWaiting, slot.arrival > previous else { continue }
            if found == nil || slot.arrival < slots[found!]!.arrival { found = index }
        }
        return found
    }
}

extension AuthAttempt {
    var isRunning: Bool {
        if case .running = state { return true }
        return false
    }

    var isWaiting: Bool {
        if case .waiting = state { return true }
        return false
    }

    /// Waiting or running: it counts against its peer.
    var isPending: Bool { isRunning || isWaiting }
}
