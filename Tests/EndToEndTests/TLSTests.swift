import DbgClient
import Foundation
import Testing

/// TLS on TCP (issue 18), against clients no one here wrote (openssl s_client, Python's
/// ssl) and dbg itself: the handshake and its parameters, pinning, key login,
/// --require-tls, and bad input.
@Suite("TLS: the transport, pinning and key login", .needs("tls"))
struct TLSTests {
    static let python = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python/tls_sutra.py").path

    /// The fingerprint the agent logged ("board key SHA256:...").
    static func boardKey(_ agent: AgentProcess) throws -> String {
        let line = try #require(agent.log.first { $0.contains("board key SHA256:") })
        return String(line.split(separator: " ").first { $0.hasPrefix("SHA256:") } ?? "")
    }

    static func hostPort(_ agent: AgentProcess) throws -> (String, UInt16) {
        guard case .tcp(let host, let port) = agent.tcp else { throw AgentProcessError("no TCP address") }
        return (host, port)
    }

    /// A shell command's status and its stdout and stderr together.
    static func sh(_ command: String, timeout: TimeInterval = 60) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(["sh", "-c", command])
        let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
        return (child.waitForExit(timeout: timeout) ?? -1, output)
    }

    /// dbg with its own configuration directory (known_agents, client.key), over TLS.
    static func dbg(_ agent: AgentProcess, config: URL) -> DbgTool {
        var dbg = DbgTool(agent)
        dbg.environment["XDG_CONFIG_HOME"] = config.path
        dbg.environment["DBG_HOST"] = "tls://" + agent.tcp.description
        return dbg
    }

    static func scratch(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))")
    }

    @Test("openssl s_client completes a TLS 1.2 handshake and sees the key the agent logged; 1.3-only and CBC are refused")
    func opensslHandshake() throws {
        let agent = try CommandFixture().startAgent()
        let key = try Self.boardKey(agent)
        let (host, port) = try Self.hostPort(agent)
        let client = "openssl s_client -connect \(host):\(port) </dev/null 2>/dev/null"
        let session = try Self.sh(client)
        #expect(session.output.contains("Protocol  : TLSv1.2"), "\(session.output)")
        #expect(session.output.contains("Cipher    : ECDHE-ECDSA-AES128-GCM-SHA256")
            || session.output.contains("Cipher    : ECDHE-ECDSA-CHACHA20-POLY1305"), "\(session.output)")
        let digest = try Self.sh(client + " | openssl x509 -pubkey -noout | openssl pkey -pubin -outform DER"
            + " | openssl dgst -sha256 -binary | base64")
        #expect("SHA256:" + digest.output.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "=", with: "") == key)
        #expect(try Self.sh("openssl s_client -connect \(host):\(port) -tls1_3 </dev/null").status != 0)
        #expect(try Self.sh("openssl s_client -connect \(host):\(port) -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256 </dev/null").status != 0)
        #expect(agent.log.contains { $0.contains("TLS handshake with 127.0.0.1:") }, "\(agent.log)")
    }

    @Test("Python's ssl client speaks Sutra over TLS: Hello, Ping, Authenticate, RunCommand")
    func pythonClient() throws {
        let agent = try CommandFixture().startAgent()
        let (host, port) = try Self.hostPort(agent)
        let result = try Self.sh("python3 '\(Self.python)' \(host) \(port) '\(try Self.boardKey(agent))' runner run")
        #expect(result.status == 0 && result.output.contains("ok"), "\(result.output)")
    }

    @Test("pinning: a new board is refused off a terminal, taken with --accept-new; a changed key and a wrong --fingerprint are refused")
    func pinning() throws {
        let fixture = try CommandFixture()
        let config = Self.scratch("dbg-config")
        var agent = try fixture.startAgent()
        let key = try Self.boardKey(agent)
        let (_, port) = try Self.hostPort(agent)
        var dbg = Self.dbg(agent, config: config)
        let known = config.appendingPathComponent("dbg/known_agents")

        let first = try dbg.run(["ping"])
        #expect(first.status == 255 && first.stderr.contains("is not in \(known.path); its key is \(key)"), "\(first.stderr)")
        #expect(!FileManager.default.fileExists(atPath: known.path))
        let accepted = try dbg.run(["--accept-new", "ping"])
        #expect(accepted.status == 0 && accepted.stderr.contains("added 127.0.0.1:\(port) (key \(key))"), "\(accepted.stderr)")
        #expect(try String(contentsOf: known, encoding: .utf8) == "127.0.0.1:\(port) \(key)\n")
        #expect(try dbg.run(["ping"]).status == 0)
        let info = try dbg.run(["info"])
        #expect(info.out.contains("board key: \(key)"), "\(info.out)")

        // The board comes back with a new key (its state directory wiped) on the same port.
        agent.stop()
        agent = try AgentProcess(["--listen", "127.0.0.1:\(port)"] + fixture.accounts.shadowFlags)
        let newKey = try Self.boardKey(agent)
        #expect(newKey != key)
        dbg = Self.dbg(agent, config: config)
        for flags in [[], ["--accept-new"]] {
            let changed = try dbg.run(flags + ["ping"])
            #expect(changed.status == 255, "\(changed.stderr)")
            #expect(changed.stderr.contains("THE BOARD KEY OF 127.0.0.1:\(port) HAS CHANGED"), "\(changed.stderr)")
            #expect(changed.stderr.contains("it is now \(newKey)") && changed.stderr.contains("remove line 1 of \(known.path)"),
                    "\(changed.stderr)")
        }
        let wrong = try dbg.run(["--fingerprint", key, "ping"])
        #expect(wrong.status == 255 && wrong.stderr.contains("presents key \(newKey), not \(key) (--fingerprint)"), "\(wrong.stderr)")
        // --fingerprint trusts exactly that key and records nothing.
        let fresh = Self.dbg(agent, config: Self.scratch("dbg-config"))
        #expect(try fresh.run(["--fingerprint", newKey, "ping"]).status == 0)
        // --tls (or DBG_TLS=1) makes a plain target tls://.
        var plain = DbgTool(agent)
        plain.environment["XDG_CONFIG_HOME"] = Self.scratch("dbg-config").path
        #expect(try plain.run(["--tls", "--accept-new", "info"]).out.contains("address:   tls://"))
        #expect(try plain.run(["info"], environment: ["DBG_TLS": "1"]).out.contains("address:   tls://"))
    }

    @Test("client keys: an unlisted key falls back to the password; copy-id lists it; a listed key logs in without one; a file others can change is ignored; a removed key is refused")
    func keyLogin() throws {
        let fixture = try CommandFixture()
        let system = Self.scratch("dbgd-authorized")
        try FileManager.default.createDirectory(at: system, withIntermediateDirectories: true)
        let agent = try fixture.startAgent(["--authorized-keys", system.path])
        var dbg = Self.dbg(agent, config: Self.scratch("dbg-config"))
        dbg.environment["DBG_ACCEPT_NEW"] = "1"
        let keygen = try dbg.run(["keygen"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let fingerprint = try #require(keygen.out.split(separator: "\n").first { $0.hasPrefix("SHA256:") }.map(String.init))
        #expect(try dbg.run(["keygen"]).status != 0)  // never replaced
        #expect(try dbg.run(["keygen", "--show"]).out == fingerprint + "\n")

        // Not listed: the password logs in; without one, the login fails.
        #expect(try dbg.run(["exec", "--", "true"]).status == 0)
        #expect(agent.log.contains { $0.contains("key login refused for 'runner'") && $0.contains(fingerprint) })
        var keyOnly = dbg
        keyOnly.environment["DBG_PASSWORD"] = nil
        #expect(try keyOnly.run(["exec", "--", "true"]).status == 254)

        let copied = try dbg.run(["copy-id"])
        #expect(copied.status == 0, "\(copied.stderr)")
        let file = fixture.home + "/.config/dbgd/authorized_keys"
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600 && (attributes[.ownerAccountID] as? UInt32) == fixture.uid)
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasPrefix(fingerprint + " "))
        #expect(try dbg.run(["copy-id"]).out.contains("already in"))

        let listed = try keyOnly.run(["exec", "--", "id", "-u"])
        #expect(listed.status == 0 && listed.out == "\(fixture.uid)\n", "\(listed.stderr)")
        #expect(agent.log.contains { $0.contains("'runner' from 127.0.0.1") && $0.hasSuffix("with a client key") })

        // Writable by others: ignored, with a line saying why.
        chmod(file, 0o666)
        #expect(try keyOnly.run(["exec", "--", "true"]).status == 254)
        // The log is read by a thread of the test: wait for the line rather than look once.
        #expect(agent.waitForLine(timeout: 10) { $0.contains("ignoring \(file): writable by its group or others") } != nil,
                "\(agent.log)")

        // The system's list works too; taking the key out of it refuses the next login.
        try FileManager.default.removeItem(atPath: file)
        let systemFile = system.appendingPathComponent("runner").path
        try (fingerprint + " the lab's key\n").write(toFile: systemFile, atomically: true, encoding: .utf8)
        #expect(try keyOnly.run(["exec", "--", "true"]).status == 0)
        try "# nobody\n".write(toFile: systemFile, atomically: true, encoding: .utf8)
        #expect(try keyOnly.run(["exec", "--", "true"]).status == 254)
    }

    @Test("--require-tls refuses cleartext TCP with a message and keeps Unix sockets; a non-loopback cleartext listener is warned about")
    func requireTLS() throws {
        let fixture = try CommandFixture()
        let socket = Self.scratch("dbgd-sock").path
        let agent = try fixture.startAgent(["--require-tls", "--unix", socket])
        let cleartext = try DbgTool(agent).run(["ping"])
        #expect(cleartext.status != 0 && cleartext.stderr.contains("takes only TLS connections on TCP"), "\(cleartext.stderr)")
        var tls = Self.dbg(agent, config: Self.scratch("dbg-config"))
        tls.environment["DBG_ACCEPT_NEW"] = "1"
        #expect(try tls.run(["ping"]).status == 0)
        #expect(try agent.connect(.unix(path: socket)).ping([1]) == [1])
        #expect(!agent.log.contains { $0.contains("takes cleartext connections") })

        let open = try fixture.startAgent(["--listen", "0.0.0.0:0"])
        #expect(open.log.filter { $0.contains("takes cleartext connections") && $0.contains("0.0.0.0:") }.count == 1, "\(open.log)")
        #expect(!open.log.contains { $0.contains("127.0.0.1:") && $0.contains("takes cleartext") })
    }

    @Test("a TLS client that the agent turns away before any TLS is told why (the cleartext Busy frame)")
    func refusedBeforeTLS() throws {
        let agent = try CommandFixture().startAgent(["--max-unauth-per-address", "1"])
        let (host, port) = try Self.hostPort(agent)
        let holder = try RawTCP(host: host, port: port)  // the address's one connection not logged in
        #expect(agent.waitForLine(timeout: 10) { $0.contains("connection 0 from 127.0.0.1") || $0.contains("listening") } != nil)
        var dbg = Self.dbg(agent, config: Self.scratch("dbg-config"))
        dbg.environment["DBG_ACCEPT_NEW"] = "1"
        let refused = try dbg.run(["ping"])
        #expect(refused.status != 0 && refused.stderr.contains("Busy: 1 connections from 127.0.0.1 have not logged in yet"),
                "\(refused.stderr)")
        holder.send([0x53])
    }

    @Test("bad input: garbage, a cut-off and a dribbled ClientHello, 200 handshakes at once; a TLS witness is served throughout")
    func badInput() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--handshake-timeout", "2"])
        let key = try Self.boardKey(agent)
        let (host, port) = try Self.hostPort(agent)
        let witness = try AgentConnection(.tls(host: host, port: port), tls: .pinned(key))
        let session = try witness.authenticate(user: "runner", password: "run")
        #expect(!session.token.string.isEmpty)
        let hello = try Self.sh("python3 '\(Self.python)' hello").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let helloBytes = stride(from: 0, to: hello.count, by: 2).map {
            UInt8(hello[hello.index(hello.startIndex, offsetBy: $0)..<hello.index(hello.startIndex, offsetBy: $0 + 2)], radix: 16)!
        }
        #expect(helloBytes.count > 100 && helloBytes[0] == 0x16)

        // Garbage after a handshake byte, and half a ClientHello then silence: both end.
        var garbage: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x20]
        garbage += (0..<300).map { _ in UInt8.random(in: 0...255) }
        for bytes in [garbage, Array(helloBytes.prefix(helloBytes.count / 2))] {
            let raw = try RawTCP(host: host, port: port)
            raw.send(bytes)
            #expect(raw.waitUntilClosed(seconds: 8), "the agent kept a bad handshake open")
        }
        // One byte every 300 ms: the handshake timeout (2 s) ends it.
        let slow = try RawTCP(host: host, port: port)
        let started = Date()
        var closed = false
        for byte in helloBytes where !closed {
            slow.send([byte])
            closed = slow.waitUntilClosed(seconds: 0.3)
            if Date().timeIntervalSince(started) > 10 { break }
        }
        #expect(closed && Date().timeIntervalSince(started) < 6, "a dribbled handshake outlived the handshake timeout")
        #expect(agent.log.contains { $0.contains("TLS handshake with 127.0.0.1:") && $0.contains("failed") }, "\(agent.log)")

        let flood = try Self.sh("python3 '\(Self.python)' \(host) \(port) '\(key)' flood 200", timeout: 120)
        #expect(flood.status == 0 && flood.output.contains("completed "), "\(flood.output)")
        #expect(try witness.ping([7, 7]) == [7, 7])
        #expect(agent.isRunning)
        let later = try AgentConnection(.tls(host: host, port: port), tls: .pinned(key))
        #expect(try later.ping([1]) == [1])
    }
}

/// A plain TCP connection that misbehaves on purpose.
final class RawTCP {
    let fd: Int32

    init(host: String, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw AgentProcessError("cannot connect to \(host):\(port)") }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }

    /// Whether the agent closed (or reset) the connection within `seconds`; what it sent
    /// before closing is read and dropped.
    func waitUntilClosed(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(max(1, deadline.timeIntervalSinceNow * 1000))) == 1 else { continue }
            if recv(fd, &buffer, buffer.count, 0) <= 0 { return true }
        }
        return false
    }
}
