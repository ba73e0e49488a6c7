/// A shadow file entry: the password hash and the account expiry.
struct ShadowEntry {
    /// The hash field as written (`$y$...`, `!$6$...`, `*`, or empty).
    var hash: [UInt8]
    /// Day (since 1970-01-01) from which the account is expired, if set.
    var expiresOnDay: UInt64?

    enum Status: Equatable {
        case usable
        case locked
        case emptyPassword
        case expired
    }

    func status(today: UInt64) -> Status {
        if hash.isEmpty { return .emptyPassword }
        if hash[0] == UInt8(ascii: "!") || hash[0] == UInt8(ascii: "*") { return .locked }
        if let expiresOnDay, today >= expiresOnDay { return .expired }
        return .usable
    }

    /// The entry for `name` in the shadow file at `path`, or nil.
    static func find(_ name: [UInt8], inShadow path: String) throws(Errno) -> ShadowEntry? {
        var found: ShadowEntry?
        try TextFile.forEachLine(path) { line in
            // name:hash:lastchg:min:max:warn:inactive:expire:reserved
            let fields = TextFile.fields(line)
            guard fields.count >= 2, fields[0].elementsEqual(name) else { return true }
            found = ShadowEntry(hash: Array(fields[1]), expiresOnDay: fields.count > 7 ? TextFile.number(fields[7]) : nil)
            return false
        }
        return found
    }

    /// One hash of each scheme and cost in the file (locked ones included), at most
    /// `limit`: what the time of a check depends on.
    static func hashPerCost(inShadow path: String, limit: Int) -> [[UInt8]] {
        var found: [(cost: [UInt8], hash: [UInt8])] = []
        try? TextFile.forEachLine(path) { line in
            let fields = TextFile.fields(line)
            guard fields.count >= 2 else { return true }
            var hash = Array(fields[1])
            while let first = hash.first, first == UInt8(ascii: "!") || first == UInt8(ascii: "*") { hash.removeFirst() }
            guard let cost = costPart(hash), !found.contains(where: { $0.cost == cost }) else { return true }
            found.append((cost, hash))
            return found.count < limit
        }
        return found.map { $0.hash }
    }

    /// The scheme and its cost parameters without salt and digest: `$y$j9T`, `$2b$12`,
    /// `$6$rounds=9000`, `$6`; nil for what is not a `$` hash.
    static func costPart(_ hash: [UInt8]) -> [UInt8]? {
        let fields = hash.split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
        guard hash.first == UInt8(ascii: "$"), fields.count >= 4 else { return nil }
        let isBcrypt = fields[1].first == UInt8(ascii: "2")  // $2b$COST$SALTDIGEST: no separate salt field
        let parts = fields.count >= 5 || isBcrypt ? [fields[1], fields[2]] : [fields[1]]
        return parts.reduce(into: [UInt8]()) { $0 += [UInt8(ascii: "$")] + $1 }
    }
}
