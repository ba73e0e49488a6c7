import CSys
@testable import DbgAgent
import DbgWire
import Foundation
import Testing

@Suite("Authentication pieces")
struct AuthTests {
    @Test("constant-time comparison is plain equality")
    func constantTime() {
        func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
            a.withUnsafeBytes { x in b.withUnsafeBytes { y in constantTimeEquals(x, y) } }
        }
        #expect(equal([], []))
        #expect(equal([1, 2, 3], [1, 2, 3]))
        #expect(!equal([1, 2, 3], [0, 2, 3]))
        #expect(!equal([1, 2, 3], [1, 2, 4]))
        #expect(!equal([1, 2, 3], [1, 2]))
        #expect(!equal([0x80], [0x00]))
    }

    @Test("hashes made by the system's libcrypt verify, in every scheme", arguments: ["$y$", "$6$", "$5$", "$2b$", "$1$"])
    func schemes(_ scheme: String) throws {
        let hash = try hashWithSystemLibcrypt("correct horse", scheme: scheme)
        #expect(hash.hasPrefix(scheme))
        #expect(PasswordHash.matches(Array("correct horse".utf8), Array(hash.utf8)))
        #expect(!PasswordHash.matches(Array("correct horsf".utf8), Array(hash.utf8)))
        #expect(!PasswordHash.matches([], Array(hash.utf8)))
    }

    @Test("a hash field libxcrypt cannot use never matches")
    func unusableHashes() {
        for field in ["", "*", "!", "!!", "x", "$9$nonsense"] {
            #expect(!PasswordHash.matches(Array("x".utf8), Array(field.utf8)), "\(field)")
        }
    }

    @Test("shadow entries: locked, empty, expired")
    func shadowStatus() {
        func status(_ hash: String, expires: UInt64? = nil) -> ShadowEntry.Status {
            ShadowEntry(hash: Array(hash.utf8), expiresOnDay: expires).status(today: 20_000)
        }
        #expect(status("$6$abc$def") == .usable)
        #expect(status("!$6$abc$def") == .locked)
        #expect(status("!") == .locked)
        #expect(status("*") == .locked)
        #expect(status("") == .emptyPassword)
        #expect(status("$6$abc$def", expires: 20_000) == .expired)
        #expect(status("$6$abc$def", expires: 20_001) == .usable)
    }

    @Test("passwd and shadow files are parsed by exact name, skipping what is malformed")
    func fileParsing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-unit-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passwd = directory.appendingPathComponent("passwd").path
        let longLine = String(repeating: "x", count: 10_000) + ":x:1:1::/:/bin/sh"
        try """
            # comment
            \(longLine)
            alice2:x:1001:1001::/home/alice2:/bin/sh
            bad:x:notanumber:1::/:/bin/sh
            alice:x:1000:1000:Alice:/home/alice:
            last:x:7:8::/var/last:/bin/ash
            """.write(toFile: passwd, atomically: true, encoding: .utf8)  // no newline after the last line
        let alice = try UserAccount.find(Array("alice".utf8), inPasswd: passwd)
        #expect(alice?.uid == 1000 && alice?.gid == 1000 && alice?.home == "/home/alice" && alice?.shell == "/bin/sh")
        #expect(try UserAccount.find(Array("last".utf8), inPasswd: passwd)?.shell == "/bin/ash")
        #expect(try UserAccount.find(Array("bad".utf8), inPasswd: passwd) == nil)
        #expect(try UserAccount.find(Array("alic".utf8), inPasswd: passwd) == nil)
        #expect(try UserAccount.find(Array("x".utf8), inPasswd: passwd) == nil)  // the overlong line
        #expect(throws: Errno.self) { try UserAccount.find(Array("alice".utf8), inPasswd: directory.appendingPathComponent("none").path) }
        let shadow = directory.appendingPathComponent("shadow").path
        try """
            root:$6$s$h:19000:0:99999:7:::
            bob:!:19000:::::20000:
            carol:!$y$j9T$salt$digest:19000:::::
            dave:$6$t$h2:19000:::::
            erin:$2b$12$abcdefghijklmnopqrstuvdigestdigestdigestdigestdigest:19000:::::
            frank:$6$rounds=9000$u$h3:19000:::::

            """.write(toFile: shadow, atomically: true, encoding: .utf8)
        #expect(try ShadowEntry.find(Array("bob".utf8), inShadow: shadow)?.expiresOnDay == 20_000)
        // One hash per scheme and cost, locked ones included: what the decoy is chosen from.
        #expect(ShadowEntry.hashPerCost(inShadow: shadow, limit: 16).map { String(decoding: $0, as: UTF8.self) }
            == ["$6$s$h", "$y$j9T$salt$digest", "$2b$12$abcdefghijklmnopqrstuvdigestdigestdigestdigestdigest", "$6$rounds=9000$u$h3"])
        #expect(ShadowEntry.hashPerCost(inShadow: shadow, limit: 2).count == 2)
        #expect(ShadowEntry.costPart(Array("$y$j9T$salt$digest".utf8)) == Array("$y$j9T".utf8))
        #expect(ShadowEntry.costPart(Array("$6$salt$digest".utf8)) == Array("$6".utf8))
        #expect(ShadowEntry.costPart(Array("nonsense".utf8)) == nil)
    }

    @Test("throttle: 250 ms doubling to 8 s, per peer, forgotten after 10 minutes or a success")
    func throttle() {
        #expect((0...7).map { AuthThrottle.delay(afterFailures: UInt32($0)) } == [0, 250, 500, 1000, 2000, 4000, 8000, 8000])
        let a = PeerKey(SocketAddress.ipv4("10.0.0.1", port: 1)!)
        let b = PeerKey(SocketAddress.ipv4("10.0.0.2", port: 1)!)
        #expect(PeerKey(SocketAddress.ipv6("::ffff:10.0.0.1", port: 9)!) == a)
        var throttle = AuthThrottle(capacity: 2)
        throttle.recordFailure(a, now: 1000)
        throttle.recordFailure(a, now: 2000)
        #expect(throttle.earliestStart(for: a, now: 2000) == 2500)
        #expect(throttle.earliestStart(for: b, now: 2000) == 2000)
        #expect(throttle.earliestStart(for: a, now: 2000 + AuthThrottle.forgetAfterMs) == 2000 + AuthThrottle.forgetAfterMs)
        throttle.recordFailure(a, now: 2000 + AuthThrottle.forgetAfterMs)
        #expect(throttle.earliestStart(for: a, now: 2000 + AuthThrottle.forgetAfterMs) == 2250 + AuthThrottle.forgetAfterMs)
        throttle.recordSuccess(a)
        #expect(throttle.earliestStart(for: a, now: 3000) == 3000)
    }

    @Test("attempts: one running per address, at most 4 pending per address, the throttle delay from the last failure, --max-auth running")
    func attemptPacing() {
        let a = PeerKey(SocketAddress.ipv4("10.0.0.1", port: 1)!)
        let b = PeerKey(SocketAddress.ipv4("10.0.0.2", port: 1)!)
        func attempt(_ peer: PeerKey) -> AuthAttempt {
            AuthAttempt(state: .waiting(AuthJob(username: [0x61], password: [], clientKey: nil, remoteHost: "")),
                        reply: .none, peer: peer, username: "a")
        }
        var attempts = AuthAttempts(maxRunning: 2)
        var admitted: [Int] = []
        for _ in 0..<4 {
            guard case .accepted(let index) = attempts.admit(attempt(a), peerDescription: "a") else { Issue.record("refused"); return }
            admitted.append(index)
        }
        guard case .busy = attempts.admit(attempt(a), peerDescription: "a") else { Issue.record("a fifth was admitted"); return }
        guard case .accepted(let fromB) = attempts.admit(attempt(b), peerDescription: "b") else { Issue.record("b refused"); return }
        var throttle = AuthThrottle(capacity: 4)
        var started: [Int] = []
        #expect(attempts.startDue(now: 1000, throttle: throttle) { started.append($0.attempt); return true } == nil)
        // One of a's (the first to arrive) and b's: never two of the same address.
        #expect(started == [admitted[0], fromB])
        // a's first fails; its next may start 250 ms after that failure, not before.
        attempts[admitted[0]] = nil
        throttle.recordFailure(a, now: 1000)
        started = []
        #expect(attempts.startDue(now: 1100, throttle: throttle) { started.append($0.attempt); return true } == 1250)
        #expect(started.isEmpty)
        #expect(attempts.startDue(now: 1250, throttle: throttle) { started.append($0.attempt); return true } == nil)
        #expect(started == [admitted[1]])
    }

    @Test("tokens are 64 lower-case hex characters and owned by one connection")
    func sessionTokens() throws {
        let tokens = (0..<100).compactMap { _ in SessionTable.newToken() }
        #expect(Set(tokens).count == 100)
        #expect(tokens.allSatisfy { $0.count == 64 && $0.allSatisfy { "0123456789abcdef".utf8.contains($0) } })
        var table = SessionTable(capacity: 2)
        let user = AuthenticatedUser(account: UserAccount(name: "u", uid: 1, gid: 1, home: "/", shell: "/bin/sh"), pam: nil)
        let created = table.create(for: user, on: ConnectionRef(frontEnd: 0, slot: 3, generation: 7))
        let session = try #require(created)
        guard case .found = table.lookup(WireBytes(session.token), on: ConnectionRef(frontEnd: 0, slot: 3, generation: 7)) else {
            Issue.record("own token not found")
            return
        }
        guard case .otherConnection = table.lookup(WireBytes(session.token), on: ConnectionRef(frontEnd: 0, slot: 3, generation: 8)) else {
            Issue.record("a reused slot may not use the old connection's token")
            return
        }
        let other = Array(session.token.dropLast()) + [session.token.last == 0x30 ? 0x31 : 0x30]
        guard case .unknown = table.lookup(WireBytes(other), on: ConnectionRef(frontEnd: 0, slot: 3, generation: 7)) else {
            Issue.record("a different token matched")
            return
        }
        _ = table.create(for: user, on: ConnectionRef(frontEnd: 0, slot: 4, generation: 1))
        let overflow = table.create(for: user, on: ConnectionRef(frontEnd: 0, slot: 4, generation: 1))
        #expect(table.isFull && overflow == nil)
        var ended = 0
        table.removeAll(on: ConnectionRef(frontEnd: 0, slot: 3, generation: 7)) { _ in ended += 1 }
        #expect(ended == 1 && table.count == 1)
    }

    @Test("credential checks name the field")
    func credentialProblems() {
        #expect(SessionStore.problem(username: "", password: "") == "Username: must not be empty")
        #expect(SessionStore.problem(username: "a\nb", password: "") == "Username: contains a NUL, ':' or newline byte")
        #expect(SessionStore.problem(username: "root", password: WireBytes([UInt8](repeating: 0x61, count: 1025)))
            == "Password: longer than 1024 bytes")
        #expect(SessionStore.problem(username: "root", password: "") == nil)
    }
}

/// crypt(password, fresh salt) by the system's libcrypt, not by the agent's code.
func hashWithSystemLibcrypt(_ password: String, scheme: String) throws -> String {
    var setting = [CChar](repeating: 0, count: 128)
    guard crypt_gensalt_rn(scheme, 0, nil, 0, &setting, Int32(setting.count)) != nil else {
        throw Errno(CSYS_ENOENT)
    }
    var work = [UInt8](repeating: 0, count: Int(CSYS_CRYPT_DATA_SIZE))
    let hash = work.withUnsafeMutableBytes { crypt_rn(password, setting, $0.baseAddress, CSYS_CRYPT_DATA_SIZE) }
    return hash.map { String(cString: $0) } ?? "*"
}
