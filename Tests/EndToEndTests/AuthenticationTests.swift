import DbgClient
import DbgWire
import Foundation
import Testing

/// Authenticate and Logout against the shadow backend: what the firmware uses, so this
/// suite runs against every binary, the static ones included.
@Suite("Authentication (shadow)")
struct AuthenticationTests {
    /// Each libxcrypt scheme: its prefix, its rounds (0: the default; else the hash begins
    /// "$6$rounds=6000$", a prefix the agent's crypt formats back), and libxcrypt's name.
    static let schemes: [(prefix: String, rounds: UInt, name: String)] = [
        ("$y$", 0, "yescrypt"), ("$6$", 0, "sha512crypt"), ("$5$", 0, "sha256crypt"), ("$2b$", 0, "bcrypt"),
        ("$1$", 0, "md5crypt"), ("$6$", 6000, "sha512crypt"), ("$5$", 6000, "sha256crypt"),
    ]

    static func accounts() throws -> TestAccounts {
        var users = schemes.enumerated().map { index, scheme in
            TestUser(name: "user\(index)", uid: 2000 + UInt32(index), password: "pw-\(index) with spaces",
                     scheme: scheme.prefix, rounds: scheme.rounds)
        }
        users.append(TestUser(name: "locked", uid: 2100, password: "x", shadowField: "!" + (try systemHash("x", scheme: "$6$"))))
        users.append(TestUser(name: "star", uid: 2101, password: "x", shadowField: "*"))
        users.append(TestUser(name: "nopass", uid: 2102, password: "", shadowField: ""))
        users.append(TestUser(name: "expired", uid: 2103, password: "old", expireDay: 1))
        users.append(TestUser(name: "noshell", uid: 2104, password: "pw", shell: ""))
        return try TestAccounts(users)
    }

    @Test("every libxcrypt scheme logs in, and SessionInfo comes from the passwd entry", arguments: Array(schemes.indices))
    func everyScheme(_ index: Int) throws {
        guard AgentProcess.verifies(Self.schemes[index].name) else {
            // A build without the scheme refuses its accounts like a wrong password.
            let accounts = try Self.accounts()
            let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
            #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "authentication failed")) {
                _ = try agent.connect().authenticate(user: "user\(index)", password: "pw-\(index) with spaces")
            }
            return
        }
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let session = try agent.connect().authenticate(user: "user\(index)", password: "pw-\(index) with spaces")
        #expect(session.username.string == "user\(index)")
        #expect(session.uid == 2000 + UInt32(index) && session.gid == 2100 + UInt32(index))
        #expect(session.home.string == "/home/user\(index)" && session.shell.string == "/bin/sh")
        #expect(session.token.count == 64 && session.token.bytes.allSatisfy { "0123456789abcdef".utf8.contains($0) })
    }

    @Test("wrong password, unknown user, locked, expired and empty accounts are all just 'authentication failed'")
    func refusals() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let attempts: [(String, String)] = [("user1", "wrong"), ("nobody", "x"), ("locked", "x"), ("star", "x"),
                                            ("expired", "old"), ("nopass", "")]
        for (index, (user, password)) in attempts.enumerated() {
            // A fresh source address each time: no throttle delay, no 3-failure close.
            let connection = try agent.connect(localAddress: "127.0.1.\(index + 1)")
            #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "authentication failed"), "\(user)") {
                _ = try connection.authenticate(user: user, password: password)
            }
        }
        // The log is read by another thread: a line may come a moment after the answer.
        #expect(agent.waitForLine(timeout: 10) { $0.contains("'locked'") && $0.contains("account locked") } != nil)
        #expect(agent.waitForLine(timeout: 10) { $0.contains("'expired'") && $0.contains("account expired") } != nil)
        #expect(agent.waitForLine(timeout: 10) { $0.contains("'nobody'") && $0.contains("unknown user") } != nil)
    }

    @Test("--allow-empty-passwords admits an empty password field with an empty password only")
    func emptyPasswords() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--allow-empty-passwords"] + accounts.shadowFlags)
        #expect(try agent.connect().authenticate(user: "nopass", password: "").username.string == "nopass")
        #expect(throws: ClientError.self) { _ = try agent.connect(localAddress: "127.0.2.1").authenticate(user: "nopass", password: "x") }
    }

    @Test("an empty shell field means /bin/sh")
    func defaultShell() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        #expect(try agent.connect().authenticate(user: "noshell", password: "pw").shell.string == "/bin/sh")
    }

    @Test("a wrong password and an unknown user take the same time")
    func sameTimeForUnknownUsers() throws {
        let accounts = try TestAccounts([TestUser(name: "root", uid: 0, password: "secret", scheme: "$y$"),
                                         TestUser(name: "alice", uid: 1000, password: "secret", scheme: "$y$")])
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        func duration(_ user: String, from address: String) throws -> Double {
            let connection = try agent.connect(localAddress: address)
            let start = Date()
            _ = try? connection.authenticate(user: user, password: "wrong")
            return Date().timeIntervalSince(start)
        }
        var known: [Double] = []
        var unknown: [Double] = []
        for round in 1...5 {
            known.append(try duration("alice", from: "127.0.3.\(round)"))
            unknown.append(try duration("mallory", from: "127.0.4.\(round)"))
        }
        let knownMedian = known.sorted()[2]
        let unknownMedian = unknown.sorted()[2]
        if AgentProcess.isEmulated {
            // Under qemu on a loaded machine one hash varies by tens of milliseconds (CI here
            // saw 60 ms apart at an 87 ms median): the unknown user must still cost a hash,
            // not nothing, and not two.
            #expect(unknownMedian > 0.4 * knownMedian && unknownMedian < 2.5 * knownMedian, "known \(known), unknown \(unknown)")
        } else {
            #expect(abs(knownMedian - unknownMedian) < max(0.03, 0.5 * knownMedian), "known \(known), unknown \(unknown)")
        }
    }

    @Test("the third failure on a connection closes it after the error frame")
    func threeStrikes() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let connection = try agent.connect(localAddress: "127.0.5.1")
        for _ in 1...2 {
            #expect(throws: ClientError.self) { _ = try connection.authenticate(user: "user1", password: "bad") }
            #expect(try connection.ping([1]) == [1])
        }
        try connection.send(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue, id: 7,
                            Dbg.AuthRequest(username: "user1", password: "bad"))
        let frames = connection.framesUntilClosed()
        #expect(frames.count == 1)
        if let frame = frames.first {
            #expect(frame.header.id == 7)
            #expect(connection.expectError(frame, .denied) == "authentication failed")
        }
    }

    @Test("each failure from a peer doubles its delay, while other traffic flows")
    func throttle() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let pinger = try agent.connect()
        let stop = NSLock()
        nonisolated(unsafe) var running = true
        nonisolated(unsafe) var slowest = 0.0
        let thread = Thread {
            while stop.withLock({ running }) {
                let start = Date()
                _ = try? pinger.ping([1])
                let rtt = Date().timeIntervalSince(start)
                stop.withLock { slowest = max(slowest, rtt) }
                usleep(5_000)
            }
        }
        thread.start()
        let start = Date()
        for attempt in 0..<5 {
            // Two connections: the third failure on one closes it.
            let connection = try agent.connect(localAddress: "127.0.6.1")
            _ = attempt
            #expect(throws: ClientError.self) { _ = try connection.authenticate(user: "user1", password: "bad") }
        }
        let elapsed = Date().timeIntervalSince(start)
        stop.withLock { running = false }
        // 0 + 250 + 500 + 1000 + 2000 ms of delays before the five evaluations.
        #expect(elapsed >= 3.75, "five failures took \(elapsed) s")
        #expect(stop.withLock { slowest } < 0.05, "a ping took \(stop.withLock { slowest }) s during the failures")
        // Another peer is not slowed down.
        let other = Date()
        #expect(throws: ClientError.self) { _ = try agent.connect(localAddress: "127.0.6.2").authenticate(user: "user1", password: "bad") }
        #expect(Date().timeIntervalSince(other) < 1)
    }

    @Test("tokens belong to their connection and die on Logout and disconnect")
    func tokenRules() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let first = try agent.connect()
        let second = try agent.connect()
        // Two users on one connection.
        let a = try first.authenticate(user: "user1", password: "pw-1 with spaces").token.string
        let b = try first.authenticate(user: "user2", password: "pw-2 with spaces").token.string
        #expect(a != b)
        #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "the token belongs to another connection")) {
            try second.logout(token: a)
        }
        try first.logout(token: a)
        #expect(throws: ClientError.remote(code: .notFound, errno: 0, message: "no session has this token")) {
            try first.logout(token: a)
        }
        try first.logout(token: b)
        // A session of a connection that closes is gone with it.
        let third = try agent.connect()
        let c = try third.authenticate(user: "user3", password: "pw-3 with spaces").token.string
        third.shutdownSending()
        _ = third.framesUntilClosed()
        #expect(throws: ClientError.remote(code: .notFound, errno: 0, message: "no session has this token")) {
            try second.logout(token: c)
        }
        #expect(throws: ClientError.remote(code: .notFound, errno: 0, message: "no session has this token")) {
            try second.logout(token: String(repeating: "0", count: 64))
        }
    }

    @Test("--max-sessions and --max-auth are limits: Busy when reached")
    func limits() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-sessions", "2", "--max-auth", "2"] + accounts.shadowFlags)
        let connection = try agent.connect()
        let one = try connection.authenticate(user: "user1", password: "pw-1 with spaces")
        let two = try connection.authenticate(user: "user2", password: "pw-2 with spaces")
        #expect(throws: ClientError.remote(code: .busy, errno: 0, message: "all 2 sessions are in use")) {
            _ = try connection.authenticate(user: "user3", password: "pw-3 with spaces")
        }
        try connection.logout(token: one.token.string)
        try connection.logout(token: two.token.string)
        // A failure gives this peer a delay; its next attempts wait their turn, at most
        // four at once from one address.
        let slow = try agent.connect(localAddress: "127.0.7.1")
        #expect(throws: ClientError.self) { _ = try slow.authenticate(user: "user1", password: "bad") }
        let waiting = try agent.connect(localAddress: "127.0.7.1")
        for id in UInt32(1)...5 {
            try waiting.send(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue, id: id,
                             Dbg.AuthRequest(username: "user1", password: "bad"))
        }
        let first = try waiting.receive()
        #expect(first.header.id == 5)
        #expect(waiting.expectError(first, .busy).contains("4 authentications from 127.0.7.1 are already in progress"))
    }

    @Test("malformed requests are BadRequest naming the field; unknown dbg ops are Unsupported")
    func badRequests() throws {
        let accounts = try Self.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let connection = try agent.connect()
        let cases: [(Dbg.AuthRequest, String)] = [
            (Dbg.AuthRequest(username: "", password: "x"), "Username: must not be empty"),
            (Dbg.AuthRequest(username: "a:b", password: "x"), "Username: contains a NUL, ':' or newline byte"),
            (Dbg.AuthRequest(username: WireBytes([0x61, 0]), password: "x"), "Username: contains a NUL, ':' or newline byte"),
            (Dbg.AuthRequest(username: "user1", password: WireBytes([0x61, 0, 0x62])), "Password: contains a NUL byte"),
            (Dbg.AuthRequest(username: WireBytes(String(repeating: "u", count: 257)), password: "x"), "Username: longer than 256 bytes"),
        ]
        for (request, message) in cases {
            #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: message)) {
                let _: Dbg.SessionInfo = try connection.call(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue, request)
            }
        }
        try connection.sendRaw(frameBytes(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue, id: 4,
                                          payload: [4, 0, 0, 0] + Array("root".utf8) + [9, 0, 0, 0, 0x61]))
        #expect(connection.expectError(try connection.receive(), .badRequest).hasPrefix("Password: payload ends 8 bytes short"))
        try connection.sendRaw(frameBytes(service: ServiceID.dbg, op: 0x06ff, id: 5, payload: []))
        #expect(connection.expectError(try connection.receive(), .unsupported) == "unknown dbg op 0x06ff")
        #expect(try connection.hello(client: "t").services == AgentProcess.services)
    }
}
