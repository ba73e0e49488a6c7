/// Which connection that has not logged in makes room for a newcomer when the table is
/// full: of the address holding the most such connections, the oldest. An address
/// flooding the agent so loses its own connections first. Ties go to the address whose
/// oldest connection is older.
///
/// The candidates are sorted by address so each address's connections form one run:
/// O(n log n) for any mix of addresses, in place, with no hash table (a `Dictionary`
/// would bring hashing into the firmware for this one use).
struct EvictionChoice {
    struct Candidate {
        var peer: PeerKey
        /// Smaller is older (`Connection.arrival`).
        var arrival: UInt64
        var slot: Int
    }

    private var candidates: [Candidate] = []

    mutating func add(peer: PeerKey, arrival: UInt64, slot: Int) {
        candidates.append(Candidate(peer: peer, arrival: arrival, slot: slot))
    }

    /// The slot to evict, or nil without candidates.
    mutating func choose() -> Int? {
        sortByPeer()
        var chosen: (count: Int, oldest: Candidate)?
        var start = 0
        while start < candidates.count {
            var oldest = candidates[start]
            var end = start + 1
            while end < candidates.count && candidates[end].peer == oldest.peer {
                if candidates[end].arrival < oldest.arrival { oldest = candidates[end] }
                end += 1
            }
            let count = end - start
            if chosen == nil || count > chosen!.count
                || (count == chosen!.count && oldest.arrival < chosen!.oldest.arrival) {
                chosen = (count, oldest)
            }
            start = end
        }
        return chosen?.oldest.slot
    }

    /// Heapsort by peer: bounded time whatever the order, and no extra memory.
    private mutating func sortByPeer() {
        let count = candidates.count
        guard count > 1 else { return }
        for root in stride(from: count / 2 - 1, through: 0, by: -1) { siftDown(root, count) }
        for end in stride(from: count - 1, to: 0, by: -1) {
            candidates.swapAt(0, end)
            siftDown(0, end)
        }
    }

    private mutating func siftDown(_ start: Int, _ end: Int) {
        var root = start
        while true {
            var child = 2 * root + 1
            guard child < end else { return }
            if child + 1 < end && candidates[child].peer < candidates[child + 1].peer { child += 1 }
            guard candidates[root].peer < candidates[child].peer else { return }
            candidates.swapAt(root, child)
            root = child
        }
    }
}
