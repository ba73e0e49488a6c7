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

    /// The first usable hash in the file: unknown users are checked against it, so that
    /// they take as long as real ones (usually root's scheme and cost).
    static func firstUsableHash(inShadow path: String) -> [UInt8]? {
        var found: [UInt8]?
        try? TextFile.forEachLine(path) { line in
            let fields = TextFile.fields(line)
            guard fields.count >= 2, fields[1].first == UInt8(ascii: "$") else { return true }
            found = Array(fields[1])
            return false
        }
        return found
    }
}
