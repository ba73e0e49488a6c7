import DbgClient
import DbgWire
import Foundation
import Testing

/// `dbg connect`: the connection master, with dbg run as a user would.
@Suite("dbg client: connection master")
struct ClientMasterTests {
    /// An agent, dbg pointed at it, and a runtime folder of the test's own (0700).
    struct Setup {
        let fixture: CommandFixture
        let agent: AgentProcess
        var dbg: DbgTool
        let runtime: String

        init() throws {
            fixture = try CommandFixture()
            agent = try fixture.startAgent()
            dbg = DbgTool(agent)
            runtime = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-run-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            dbg.environment["XDG_RUNTIME_DIR"] = runtime
        }

        /// The master's socket (the only one in the folder), if there is one.
        var socket: String? {
            let folder = runtime + "/dbg"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.first { $0.hasSuffix(".sock") }.map { folder + "/" + $0 }
        }

        /// `dbg connect`; the master's pid.
        func connect(_ extra: [String] = []) throws -> pid_t {
            let outcome = try dbg.run(["connect"] + extra)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            let words = outcome.out.split(whereSeparator: { $0 == " " || $0 == ";" })
            guard let index = words.firstIndex(of: "(pid"), let pid = pid_t(words[index + 1]) else {
                throw AgentProcessError("no pid in '\(outcome.out)'")
            }
            return pid
        }
    }

    static let wrongPassword = ["DBG_PASSWORD": "wrong"]

    @Test("100 calls go through one master without logging in again: exec, sh, files, streams, a shell script",
          .needs("streams"))
    func hundredCalls() throws {
        let setup = try Setup()
        let master = try setup.connect()
        defer { kill(master, SIGKILL) }
        let dbg = setup.dbg
        for index in 0..<100 {
            let outcome = try dbg.run(["exec", "--", "true"], environment: Self.wrongPassword)
            #expect(outcome.status == 0, "call \(index): \(outcome.stderr)")
            if outcome.status != 0 { break }
        }
        let shell = try dbg.run(["sh", "echo out; echo err >&2; exit 7"], environment: Self.wrongPassword)
        #expect(shell.status == 7 && shell.out == "out\n" && shell.stderr == "err\n")
        let local = setup.runtime + "/file.bin"
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: local))
        #expect(try dbg.run(["push", "-q", "--verify", local, "copied.bin"], environment: Self.wrongPassword).status == 0)
        #expect(try dbg.run(["pull", "-q", "--verify", "copied.bin", local + ".back"], environment: Self.wrongPassword).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: local + ".back")) == Data(bytes))
        let listed = try dbg.run(["ls"], environment: Self.wrongPassword)
        #expect(listed.out.split(separator: "\n").contains("copied.bin"))
        let script = try ChildProcess(["sh", "-c", "echo 'echo scripted; exit 5' | '\(DbgTool.binary)' shell"],
                                      environment: dbg.environment.merging(Self.wrongPassword) { $1 })
        #expect(String(decoding: script.output.readDataToEndOfFile(), as: UTF8.self).contains("scripted\n"))
        #expect(script.waitForExit(timeout: 30) == 5)
        // Several at once, each with its own answers.
        let parallel = try (0..<8).map { index in
            try ChildProcess([DbgTool.binary, "exec", "--", "sh", "-c", "sleep 0.2; echo \(index)"],
                             environment: dbg.environment.merging(Self.wrongPassword) { $1 })
        }
        for (index, child) in parallel.enumerated() {
            #expect(String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self) == "\(index)\n")
            #expect(child.waitForExit(timeout: 30) == 0)
        }
        let again = try dbg.run(["connect"])
        #expect(again.status == 0 && again.out.hasPrefix("dbg: already connected as runner@"))
        let ended = try dbg.run(["disconnect"])
        #expect(ended.status == 0 && setup.socket == nil, "\(ended.stderr)")
        #expect(try dbg.run(["exec", "--", "true"], environment: Self.wrongPassword).status == 254)
    }

    @Test("a killed master is noticed and replaced, never waited for; what a killed client left running is hung up",
          .needs("streams"))
    func deadMaster() throws {
        let setup = try Setup()
        let dbg = setup.dbg
        let first = try setup.connect()
        // A client killed while its remote program runs: the master hangs the program up.
        let client = try ChildProcess([DbgTool.binary, "exec", "--", "sh", "-c", "echo $$; exec sleep 300"],
                                      environment: dbg.environment.merging(Self.wrongPassword) { $1 })
        var line = ""
        while !line.hasSuffix("\n") {
            let byte = client.output.readData(ofLength: 1)
            if byte.isEmpty { break }
            line += String(decoding: byte, as: UTF8.self)
        }
        let remote = pid_t(line.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(remote > 0 && kill(remote, 0) == 0)
        kill(client.pid, SIGKILL)
        _ = client.waitForExit(timeout: 10)
        #expect(processGone(remote, within: 5), "the remote program outlived its client")

        kill(first, SIGKILL)
        Thread.sleep(forTimeInterval: 0.2)
        #expect(setup.socket != nil, "a killed master leaves its socket behind")
        let started = Date()
        let direct = try dbg.run(["exec", "--", "true"], environment: Self.wrongPassword)
        #expect(direct.status == 254 && Date().timeIntervalSince(started) < 5, "\(direct.stderr)")
        #expect(setup.socket == nil, "the dead master's socket is removed")
        let second = try setup.connect()
        defer { kill(second, SIGKILL) }
        let shared = try dbg.run(["exec", "--", "true"], environment: Self.wrongPassword)
        #expect(second != first && shared.status == 0)
    }

    @Test("a master socket or folder that another user owns, or others can reach, is not used")
    func foreignSocket() throws {
        var setup = try Setup()
        let master = try setup.connect()
        defer { kill(master, SIGKILL) }
        let socket = try #require(setup.socket)
        #expect(chown(socket, 65534, 65534) == 0)
        let foreign = try setup.dbg.run(["exec", "--", "true"])
        #expect(foreign.status == 0, "connects by itself instead")
        #expect(foreign.stderr.contains("not using the connection master at \(socket): \(socket) belongs to uid 65534"), "\(foreign.stderr)")
        #expect(chown(socket, getuid(), getgid()) == 0 && chmod(socket, 0o666) == 0)
        #expect(try setup.dbg.run(["exec", "--", "true"]).stderr.contains("can be reached by other users"))
        #expect(chmod(socket, 0o600) == 0 && chmod(setup.runtime + "/dbg", 0o755) == 0)
        #expect(try setup.dbg.run(["exec", "--", "true"]).stderr.contains("can be reached by other users"))
        #expect(chmod(setup.runtime + "/dbg", 0o700) == 0)
        #expect(try setup.dbg.run(["exec", "--", "true"], environment: Self.wrongPassword).status == 0)
        setup.dbg.environment["XDG_RUNTIME_DIR"] = nil  // /tmp/dbg-UID: not this test's
    }

    @Test("a client breaking the master's rules is cut off alone: a foreign id prefix, garbage, a Logout of the shared session")
    func badClients() throws {
        let setup = try Setup()
        let master = try setup.connect()
        defer { kill(master, SIGKILL) }
        let socket = try #require(setup.socket)
        let target = setup.agent.tcp
        // Logout would end everyone's session: refused, and the client goes on.
        let polite = try AgentConnection(master: socket, for: target)
        let token = try #require(polite.masterSession).token.string
        #expect(throws: ClientError.remote(code: .unsupported, errno: 0,
                                           message: "the session belongs to the connection master (dbg disconnect ends it)")) {
            try polite.logout(token: token)
        }
        #expect(try polite.ping([1, 2, 3]) == [1, 2, 3])
        // Another client's ids, then bytes that are no frame: each such client is dropped.
        let impostor = try AgentConnection(master: socket, for: target)
        try impostor.send(service: ServiceID.control, op: Control.Op.ping.rawValue, id: 0xFFF0_0001, Control.Ping(data: WireBytes([])))
        #expect(throws: ClientError.self) { _ = try impostor.receive() }
        let garbage = try AgentConnection(master: socket, for: target)
        try garbage.sendRaw([UInt8](repeating: 0x41, count: 64))
        #expect(throws: ClientError.self) { _ = try garbage.receive() }
        // The others, and new calls, are served as before.
        #expect(try polite.ping([4]) == [4])
        #expect(try setup.dbg.run(["exec", "--", "true"], environment: Self.wrongPassword).status == 0)
    }

    @Test("the master ends after --persist without a call, and when the agent goes away")
    func ending() throws {
        let setup = try Setup()
        let idle = try setup.connect(["--persist", "1s"])
        #expect(processGone(idle, within: 5) && setup.socket == nil)
        let master = try setup.connect(["--persist", "0"])
        setup.agent.stop()
        #expect(processGone(master, within: 60) && setup.socket == nil)
        let bad = try setup.dbg.run(["connect", "--persist", "soon"])
        #expect(bad.status == 64 && bad.stderr == "dbg: --persist 'soon': expected a time such as 30s, 10m or 2h (0: no limit)\n")
    }
}
