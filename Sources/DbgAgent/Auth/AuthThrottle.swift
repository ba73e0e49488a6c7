import CSys

/// Who an authentication attempt comes from, for throttling: the IP address without the
/// port (IPv4-mapped IPv6 counts as IPv4), or "local" for a Unix socket.
struct PeerKey: Equatable, Comparable {
    private var family: Int32
    private var high: UInt64
    private var low: UInt64

    /// An arbitrary but total order, so connections can be grouped by address.
    static func < (left: PeerKey, right: PeerKey) -> Bool {
        if left.family != right.family { return left.family < right.family }
        if left.high != right.high { return left.high < right.high }
        return left.low < right.low
    }

    init(_ address: SocketAddress) {
        family = address.family
        high = 0
        low = 0
        address.withAddressBytes { bytes in
            var raw = Array(bytes)
            // ::ffff:a.b.c.d is the IPv4 peer of a dual-stack listener.
            if raw.count == 16, raw[0..<10].allSatisfy({ $0 == 0 }), raw[10] == 0xff, raw[11] == 0xff {
                raw = Array(raw[12...])
                family = CSYS_AF_INET
            }
            for (index, byte) in raw.enumerated() {
                if index < 8 { high |= UInt64(byte) << (8 * UInt64(index)) } else { low |= UInt64(byte) << (8 * UInt64(index - 8)) }
            }
        }
    }
}

/// Failed-login memory per peer. Each failure doubles the delay between that failure and
/// the start of the peer's next attempt (250 ms, 500 ms, ... capped at 8 s); a peer with no
/// failure for 10 minutes, or with a success, starts again from none. The table is
/// fixed; when full, the peer whose last failure is oldest is forgotten first.
struct AuthThrottle {
    static let firstDelayMs: Milliseconds = 250
    static let maxDelayMs: Milliseconds = 8_000
    static let forgetAfterMs: Milliseconds = 600_000

    private struct Entry {
        var peer: PeerKey
        var failures: UInt32
        var lastFailureAt: Milliseconds
    }

    private var entries: [Entry] = []
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        entries.reserveCapacity(capacity)
    }

    /// When the next attempt from `peer` may start (`now` when it has no failures).
    func earliestStart(for peer: PeerKey, now: Milliseconds) -> Milliseconds {
        guard let entry = entries.first(where: { $0.peer == peer }),
              now - entry.lastFailureAt < AuthThrottle.forgetAfterMs, entry.failures > 0 else { return now }
        return max(now, entry.lastFailureAt + AuthThrottle.delay(afterFailures: entry.failures))
    }

    static func delay(afterFailures failures: UInt32) -> Milliseconds {
        guard failures > 0 else { return 0 }
        let doublings = min(failures - 1, 16)
        return min(firstDelayMs << Milliseconds(doublings), maxDelayMs)
    }

    mutating func recordFailure(_ peer: PeerKey, now: Milliseconds) {
        if let index = entries.firstIndex(where: { $0.peer == peer }) {
            let stale = now - entries[index].lastFailureAt >= AuthThrottle.forgetAfterMs
            entries[index].failures = stale ? 1 : entries[index].failures + 1
            entries[index].lastFailureAt = now
            return
        }
        if entries.count == capacity, let oldest = entries.indices.min(by: { entries[$0].lastFailureAt < entries[$1].lastFailureAt }) {
            entries.remove(at: oldest)
        }
        entries.append(Entry(peer: peer, failures: 1, lastFailureAt: now))
    }

    mutating func recordSuccess(_ peer: PeerKey) {
        entries.removeAll { $0.peer == peer }
    }
}
