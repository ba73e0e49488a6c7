import DbgClient
import Glibc

/// The board keys this user trusts, the ssh way: `known_agents` in dbg's configuration
/// directory, one line per board, `HOST:PORT SHA256:...` (the fingerprint the agent logs
/// as "board key"); blank lines and `#` comments are allowed.
struct KnownAgents {
    struct Entry: Equatable {
        var address: String
        var fingerprint: String
        /// Its line number, for the message that says which line to remove.
        var line: Int
    }

    static var path: String { Environment.configDirectory + "/known_agents" }

    let path: String
    let entries: [Entry]

    /// The file at `path`; none means no entries. A line it cannot mean is an error
    /// naming the line, never ignored.
    static func load(_ path: String = KnownAgents.path) throws(LocalFailure) -> KnownAgents {
        guard LocalPath(path).exists else { return KnownAgents(path: path, entries: []) }
        guard let text = LocalPath(path).text() else { throw LocalFailure(path + ": cannot be read") }
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2, fields[1].hasPrefix("SHA256:") else {
                throw LocalFailure("\(path):\(index + 1): expected HOST:PORT SHA256:FINGERPRINT")
            }
            entries.append(Entry(address: String(fields[0]), fingerprint: String(fields[1]), line: index + 1))
        }
        return KnownAgents(path: path, entries: entries)
    }

    func entry(for address: String) -> Entry? { entries.first { $0.address == address } }

    /// Adds a line (the directory is made, 0700; the file is 0600).
    static func add(_ address: String, _ fingerprint: String, to path: String = KnownAgents.path) throws(LocalFailure) {
        try LocalPath(path).makePrivateParent()
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LocalFailure("cannot write " + path + ": " + describeErrno()) }
        defer { close(fd) }
        let line = Array((address + " " + fingerprint + "\n").utf8)
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw LocalFailure("cannot write " + path + ": " + describeErrno())
        }
    }
}

/// How dbg decides to trust a board's key over TLS: `--fingerprint` pins one key;
/// otherwise known_agents decides, and a board not in it is accepted only when the user
/// says so (a prompt on a terminal, or --accept-new / DBG_ACCEPT_NEW=1). A key that
/// differs from the one recorded is refused, whatever the options.
struct BoardTrust: Sendable {
    /// HOST:PORT, as known_agents keys it.
    let address: String
    let expected: String?
    let acceptNew: Bool

    func check(_ presented: String) throws(ClientError) {
        if let expected {
            guard presented == expected else {
                throw .untrusted("the board at \(address) presents key \(presented), not \(expected) (--fingerprint)")
            }
            return
        }
        let known: KnownAgents
        do throws(LocalFailure) { known = try KnownAgents.load() } catch { throw .usage(error.message) }
        if let entry = known.entry(for: address) {
            guard entry.fingerprint != presented else { return }
            throw .untrusted("""
                THE BOARD KEY OF \(address) HAS CHANGED.
                It was \(entry.fingerprint) (\(known.path), line \(entry.line)); it is now \(presented).
                Someone may be intercepting this connection, or the board was reflashed or lost its --state-dir.
                If you know why it changed, remove line \(entry.line) of \(known.path) and connect again.
                """)
        }
        guard acceptNew || askToTrust(presented, in: known.path) else {
            throw .untrusted("the board at \(address) is not in \(known.path); its key is \(presented). Compare it with the "
                + "agent's log ('board key ...'), then connect once on a terminal, or give --accept-new (DBG_ACCEPT_NEW=1) "
                + "or --fingerprint \(presented)")
        }
        do throws(LocalFailure) {
            try KnownAgents.add(address, presented, to: known.path)
        } catch {
            throw .usage(error.message)
        }
        Terminal.error("dbg: added \(address) (key \(presented)) to \(known.path)")
    }

    /// On a terminal: shows the key and asks.
    private func askToTrust(_ presented: String, in path: String) -> Bool {
        guard Terminal.stdinIsTerminal else { return false }
        let answer = PasswordPrompt.ask("The board at \(address) presents key \(presented).\n"
            + "It is not in \(path). Trust it and connect (yes/no)? ")
        return answer?.trimmed.lowercased() == "yes"
    }
}
