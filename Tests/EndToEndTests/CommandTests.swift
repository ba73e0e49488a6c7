import DbgClient
import DbgWire
import Foundation
import Testing

@Suite("RunCommand and RunShell")
struct CommandTests {
    @Test("exit codes, signal deaths, stdout and stderr apart, stdin empty")
    func exitStatus() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(try session.run("true").exitCode == 0)
        #expect(try session.run("false").exitCode == 1)
        #expect(try session.shell("exit 42").exitCode == 42)
        #expect(try session.shell("kill -9 $$").exitCode == 137)
        let both = try session.shell("echo out; echo err >&2; exit 3")
        #expect(both.exitCode == 3 && both.out == "out\n" && both.err == "err\n")
        #expect(!both.stdoutTruncated && !both.stderrTruncated)
        let input = try session.run("cat")
        #expect(input.exitCode == 0 && input.out.isEmpty)
    }

    @Test("argv splitting: quotes and backslashes, no expansion", arguments: [
        ("a b", ["a", "b"]),
        ("  a   b  ", ["a", "b"]),
        ("'a b'", ["a b"]),
        ("\"a b\"", ["a b"]),
        ("a\\ b", ["a b"]),
        ("\"a\\\"b\"", ["a\"b"]),
        ("'a\\b'", ["a\\b"]),
        ("\"a\\b\"", ["a\\b"]),
        ("\"$HOME\" $HOME", ["$HOME", "$HOME"]),
        ("* ?", ["*", "?"]),
        ("'' \"\"", ["", ""]),
        ("a|b;c>d", ["a|b;c>d"]),
        ("x'y'\"z\"", ["xyz"]),
    ])
    func quoting(_ line: String, _ words: [String]) throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let result = try fixture.login(agent).run("printf '[%s]\\n' " + line)
        #expect(result.out == words.map { "[\($0)]\n" }.joined(), "\(line)")
    }

    @Test("unusable command lines are BadRequest naming the problem; unknown programs NotFound")
    func badCommands() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let cases: [(String, ErrorCode, String)] = [
            ("'abc", .badRequest, "Command: unterminated single quote"),
            ("echo \"abc", .badRequest, "Command: unterminated double quote"),
            ("echo abc\\", .badRequest, "Command: ends with a backslash"),
            ("   ", .badRequest, "Command: empty (no program to run)"),
            ("no-such-program-4711 x", .notFound, "command not found: no-such-program-4711"),
            ("/etc/passwd", .denied, "permission denied: /etc/passwd"),
        ]
        for (command, code, message) in cases {
            #expect(throws: ClientError.remote(code: code, errno: 0, message: message), "\(command)") { _ = try session.run(command) }
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "TimeoutSec: must not be negative (0 means the default)")) {
            _ = try session.run("true", timeout: -1)
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Command: empty")) { _ = try session.shell("") }
    }

    @Test("working directory: empty is home, relative is under home, missing and non-directories refused")
    func workingDirectory() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(try session.run("pwd").out == fixture.home + "\n")
        #expect(try session.run("pwd", cwd: "sub").out == fixture.home + "/sub\n")
        #expect(try session.run("pwd", cwd: "/tmp").out == "/tmp\n")
        #expect(throws: ClientError.remote(code: .notFound, errno: 0, message: "Cwd: no such directory: \(fixture.home)/missing")) {
            _ = try session.run("pwd", cwd: "missing")
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Cwd: not a directory: \(fixture.home)/file.txt")) {
            _ = try session.run("pwd", cwd: "file.txt")
        }
    }

    @Test("the environment is exactly HOME, USER, LOGNAME, SHELL and PATH")
    func cleanEnvironment() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(environment: ["DBGD_TEST_SECRET": "leaked"])
        let lines = try fixture.login(agent).run("env").out.split(separator: "\n").map(String.init).sorted()
        let path = fixture.uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" : "/usr/local/bin:/usr/bin:/bin"
        #expect(lines == ["HOME=\(fixture.home)", "LOGNAME=runner", "PATH=\(path)", "SHELL=/bin/sh", "USER=runner"])
    }

    @Test("as root, commands run as the user with the user's groups, and cannot read /etc/shadow",
          .enabled(if: CommandFixture.isRoot))
    func privilegeDrop() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(try session.run("id -u").out == "\(fixture.uid)\n")
        #expect(try session.run("id -g").out == "\(fixture.gid)\n")
        #expect(try session.run("id -G").out == "\(fixture.gid) 3000 3002\n")
        let shadow = try session.run("cat /etc/shadow")
        #expect(shadow.exitCode != 0 && shadow.err.contains("Permission denied"))
    }

    @Test("a timeout kills the process group: SIGTERM, then SIGKILL 2 s later; exit 124")
    func timeouts() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        var start = Date()
        let slept = try session.run("sleep 100", timeout: 1)
        #expect(slept.exitCode == 124 && slept.err == "dbgd: timed out after 1 s\n")
        #expect(Date().timeIntervalSince(start) < 3)
        start = Date()
        let stubborn = try session.shell("trap '' TERM; echo ready; sleep 100; echo never", timeout: 1)
        let elapsed = Date().timeIntervalSince(start)
        #expect(stubborn.exitCode == 124 && stubborn.out == "ready\n" && stubborn.err.hasSuffix("dbgd: timed out after 1 s\n"))
        #expect(elapsed >= 2.9 && elapsed < 5, "SIGKILL came after \(elapsed) s")
    }

    @Test("output beyond --max-output is read and dropped: 2 GiB of zeros keep 64 KiB and no memory")
    func outputBomb() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let startKiB = agent.residentKiB()
        let sampling = NSLock()
        nonisolated(unsafe) var peakKiB = startKiB
        nonisolated(unsafe) var running = true
        let sampler = Thread {
            while sampling.withLock({ running }) {
                let now = agent.residentKiB()
                sampling.withLock { peakKiB = max(peakKiB, now) }
                usleep(20_000)
            }
        }
        sampler.start()
        let bomb = try session.shell("head -c 2G /dev/zero; echo done >&2")
        sampling.withLock { running = false }
        #expect(bomb.exitCode == 0 && bomb.stdout.count == 64 << 10 && bomb.stdoutTruncated)
        #expect(bomb.stdout.bytes.allSatisfy { $0 == 0 } && bomb.err == "done\n" && !bomb.stderrTruncated)
        if !AgentProcess.isEmulated {
            let peak = sampling.withLock { peakKiB }
            // Two capture buffers and the discard buffer: about 200 KiB, never the 2 GiB.
            #expect(peak - startKiB < 1024, "RSS went from \(startKiB) KiB to \(peak) KiB during the run")
        }
    }

    @Test("5,000 commands in a row leave no zombie and no descriptor behind")
    func noLeaks() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(try session.run("true").exitCode == 0)
        let descriptors = settledDescriptors(of: agent.pid).count
        for _ in 0..<5_000 {
            guard try session.run("true").exitCode == 0 else {
                Issue.record("true failed")
                return
            }
        }
        #expect(settledDescriptors(of: agent.pid).count == descriptors)
        #expect(children(of: agent.pid).all.isEmpty)
    }

    @Test("64 commands at once across 8 connections finish together; --max-exec makes the 17th Busy")
    func concurrency() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-exec", "64"])
        let sessions = try (0..<8).map { _ in try fixture.login(agent) }
        let start = Date()
        try concurrently(8) { index in
            let session = sessions[index]
            for id in UInt32(1)...8 { try session.send("sleep 1; echo \(index)-\(id)", id: id, shell: true) }
            var seen = Set<UInt32>()
            for _ in 1...8 {
                let frame = try session.connection.receive()
                let result = try frame.decode(Dbg.ExecResult.self)
                guard result.out == "\(index)-\(frame.header.id)\n" else { throw AgentProcessError("wrong output \(result.out)") }
                seen.insert(frame.header.id)
            }
            guard seen == Set(1...8) else { throw AgentProcessError("ids \(seen)") }
        }
        #expect(Date().timeIntervalSince(start) < 3, "64 one-second commands took \(Date().timeIntervalSince(start)) s")

        let limited = try fixture.startAgent(["--max-exec", "16"])
        let session = try fixture.login(limited)
        for id in UInt32(1)...17 { try session.send("sleep 1", id: id) }
        let first = try session.connection.receive()
        #expect(first.header.id == 17)
        #expect(session.connection.expectError(first, .busy).contains("all 16 command slots are in use"))
        for _ in 1...16 { #expect(try session.connection.receive().header.kind == .response) }
    }

    @Test("answers come as commands finish; a daemon holding the pipes does not delay them")
    func ordering() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        try session.send("sleep 1; echo slow", id: 1, shell: true)
        try session.send("echo fast", id: 2, shell: true)
        #expect(try session.connection.receive().header.id == 2)
        #expect(try session.connection.receive().header.id == 1)
        let start = Date()
        let daemon = try session.shell("sleep 30 & echo started")
        #expect(daemon.out == "started\n" && Date().timeIntervalSince(start) < 2)
    }

    @Test("closing the connection kills its running commands")
    func disconnectKills() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        try session.send("sleep 97.5", id: 1)
        var sleeper: pid_t?
        for _ in 0..<100 where sleeper == nil {
            sleeper = children(of: agent.pid).all.first
            if sleeper == nil { usleep(20_000) }
        }
        guard let pid = sleeper else {
            Issue.record("the command did not start")
            return
        }
        session.connection.shutdownSending()
        _ = session.connection.framesUntilClosed()
        var gone = false
        for _ in 0..<100 where !gone {
            gone = kill(pid, 0) != 0
            if !gone { usleep(20_000) }
        }
        #expect(gone)
    }

    @Test("a token is needed, and it must be this connection's")
    func tokens() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let stranger = LoggedIn(connection: try agent.connect(), token: session.token)
        #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "the token belongs to another connection")) {
            _ = try stranger.run("true")
        }
        let nobody = LoggedIn(connection: try agent.connect(), token: "0")
        #expect(throws: ClientError.remote(code: .unauthenticated, errno: 0, message: "unknown or expired token (Authenticate first)")) {
            _ = try nobody.run("true")
        }
    }
}
