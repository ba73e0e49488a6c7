import CSys

/// The agent's recent events, for `GET /api/v1/news` (seed 003): logins and failed
/// logins, the app's starts, stops and restarts, distro installs, the agent's start.
/// A ring of `capacity` entries, each text cut at `maxText` bytes: the oldest entry goes
/// when a new one comes, so it never grows.
final class NewsRing {
    /// As the API names them.
    enum Kind: String {
        case agent, login, loginFailed = "login-failed", app, distro
    }

    struct Item {
        /// A number that grows with each item, so that a reader can ask only for newer ones.
        let serial: UInt64
        /// Wall-clock milliseconds since the epoch.
        let time: UInt64
        let kind: Kind
        let text: [UInt8]
    }

    static let capacity = 64
    static let maxText = 200

    private var items: [Item] = []
    private var next = 0
    private var lastSerial: UInt64 = 0

    init() { items.reserveCapacity(NewsRing.capacity) }

    func add(_ kind: Kind, _ text: String) {
        lastSerial += 1
        let item = Item(serial: lastSerial, time: csys_wall_ms(), kind: kind, text: Array(text.utf8.prefix(NewsRing.maxText)))
        if items.count < NewsRing.capacity {
            items.append(item)
        } else {
            items[next] = item
        }
        next = (next + 1) % NewsRing.capacity
    }

    /// Newest first.
    var newestFirst: [Item] {
        var out: [Item] = []
        out.reserveCapacity(items.count)
        for step in 1...max(1, items.count) where step <= items.count {
            out.append(items[(next - step + NewsRing.capacity) % NewsRing.capacity])
        }
        return out
    }
}
