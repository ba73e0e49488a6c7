import CSys
import DbgWire

/// A logged-in user on one connection, named by its token.
struct Session {
    /// Unique for the agent's lifetime: what a shell remembers as its owner.
    var serial: UInt64
    /// 64 lower-case hex characters encoding 32 random bytes.
    var token: [UInt8]
    /// The connection it was created on, the only one it may be used on.
    var connection: ConnectionRef
    var user: AuthenticatedUser
    /// When it began, in wall-clock milliseconds (what GET /api/v1/auth tells).
    var since: UInt64 = 0
    /// When it was last used (monotonic): an HTTP session ends after long disuse.
    var lastUsed: Milliseconds = 0
}

/// The fixed table of sessions (`--max-sessions`). Tokens are compared in constant time
/// and belong to the connection that created them.
struct SessionTable {
    static let tokenLength = 64

    enum Lookup {
        case found(Int)
        case unknown
        /// A valid token presented on another connection than its own.
        case otherConnection
    }

    private var slots: [Session?]
    private(set) var count = 0
    private var lastSerial: UInt64 = 0

    init(capacity: Int) { slots = [Session?](repeating: nil, count: capacity) }

    var capacity: Int { slots.count }
    var isFull: Bool { count == slots.count }

    subscript(index: Int) -> Session { slots[index]! }

    func isUsed(_ index: Int) -> Bool { slots[index] != nil }

    /// Adds a session with a fresh token; nil when the table is full or the kernel has
    /// no randomness to give.
    mutating func create(for user: AuthenticatedUser, on connection: ConnectionRef) -> Session? {
        guard let index = slots.firstIndex(where: { $0 == nil }), let token = SessionTable.newToken() else { return nil }
        lastSerial += 1
        let session = Session(serial: lastSerial, token: token, connection: connection, user: user, since: csys_wall_ms(),
                              lastUsed: MonotonicClock.now())
        slots[index] = session
        count += 1
        return session
    }

    func lookup(_ token: WireBytes, on connection: ConnectionRef) -> Lookup {
        guard let index = index(ofToken: token), let session = slots[index] else { return .unknown }
        guard session.connection == connection else { return .otherConnection }
        return .found(index)
    }

    /// The live session with this token, whichever connection it belongs to (the channel
    /// protocol takes any session's token in its path).
    func index(ofToken token: WireBytes) -> Int? {
        var found: Int?
        token.withUnsafeBytes { presented in
            // Every live token is compared, so the time does not tell which one matched.
            for (index, slot) in slots.enumerated() {
                guard let session = slot else { continue }
                let equal = session.token.withUnsafeBytes { constantTimeEquals($0, presented) }
                if equal { found = index }
            }
        }
        return found
    }

    /// The connection's most recent session.
    func latest(on connection: ConnectionRef) -> Session? {
        var latest: Session?
        for case let session? in slots where session.connection == connection {
            if session.serial > latest?.serial ?? 0 { latest = session }
        }
        return latest
    }

    /// The live session with this serial.
    func index(ofSerial serial: UInt64) -> Int? { slots.firstIndex { $0?.serial == serial } }

    /// Notes a use of a session (HTTP sessions end after long disuse).
    mutating func touch(_ index: Int, now: Milliseconds) { slots[index]?.lastUsed = now }

    /// Sessions of `connection` unused since before `cutoff`.
    func unused(on connection: ConnectionRef, since cutoff: Milliseconds) -> [Int] {
        slots.indices.filter { slots[$0]?.connection == connection && slots[$0]!.lastUsed < cutoff }
    }

    /// Removes a session; its PAM session, if any, is the caller's to end.
    mutating func remove(_ index: Int) -> Session {
        let session = slots[index]!
        slots[index] = nil
        count -= 1
        return session
    }

    /// Removes every session of a connection that is going away.
    mutating func removeAll(on connection: ConnectionRef, _ ended: (Session) -> Void) {
        for index in slots.indices {
            guard let session = slots[index], session.connection == connection else { continue }
            ended(remove(index))
        }
    }

    /// 32 bytes from getrandom, as 64 hex characters.
    static func newToken() -> [UInt8]? {
        var random = [UInt8](repeating: 0, count: tokenLength / 2)
        guard random.withUnsafeMutableBytes({ csys_random_bytes($0.baseAddress, $0.count) }) == 0 else { return nil }
        let digits: StaticString = "0123456789abcdef"
        var token: [UInt8] = []
        token.reserveCapacity(tokenLength)
        for byte in random {
            token.append(digits.utf8Start[Int(byte >> 4)])
            token.append(digits.utf8Start[Int(byte & 0x0f)])
        }
        random.withUnsafeMutableBytes { csys_wipe($0.baseAddress, $0.count) }
        return token
    }
}
