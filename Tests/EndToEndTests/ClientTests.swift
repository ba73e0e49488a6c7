import DbgClient
import DbgWire
import Foundation
import Testing

/// The `dbg` binary, run as a user would, against a real agent.
struct DbgTool {
    static var binary: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("dbg").path
    }

    let agent: AgentProcess
    var environment: [String: String]

    init(_ agent: AgentProcess, user: String = "runner", password: String = "run") {
        self.agent = agent
        environment = ["DBG_HOST": agent.tcp.description, "DBG_USER": user, "DBG_PASSWORD": password]
    }

    struct Outcome {
        var status: Int32
        var stdout: [UInt8]
        var stderr: String
        var out: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs dbg with `arguments`, stdin from /dev/null, and collects both streams apart.
    func run(_ arguments: [String], environment extra: [String: String] = [:], timeout: TimeInterval = 60) throws -> Outcome {
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-err-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: errFile) }
        let quoted = ([DbgTool.binary] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let child = try ChildProcess(["sh", "-c", quoted.joined(separator: " ") + " </dev/null 2>'\(errFile.path)'"],
                                     environment: environment.merging(extra) { $1 })
        let stdout = [UInt8](child.output.readDataToEndOfFile())
        let status = child.waitForExit(timeout: timeout) ?? -1
        let stderr = (try? String(contentsOf: errFile, encoding: .utf8)) ?? ""
        return Outcome(status: status, stdout: stdout, stderr: stderr)
    }
}

@Suite("dbg client: exec, sh, statuses")
struct ClientTests {
    @Test("exec passes arguments exactly, relays both streams byte for byte, and exits with the remote status")
    func exec() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let words = try dbg.run(["exec", "--", "printf", "%s|", "a b", "it's", "$HOME", "*", ""])
        #expect(words.status == 0 && words.out == "a b|it's|$HOME|*||")
        let binary = try dbg.run(["sh", "printf '\\000\\001\\377'; printf 'e\\000r' >&2; exit 42"])
        #expect(binary.status == 42 && binary.stdout == [0, 1, 255] && binary.stderr == "e\u{0}r")
        #expect(try dbg.run(["sh", "kill -9 $$"]).status == 137)
        let missing = try dbg.run(["exec", "--", "no-such-program-99"])
        #expect(missing.status == 1 && missing.stderr == "dbg: exec: NotFound: command not found: no-such-program-99\n")
        let slow = try dbg.run(["exec", "--timeout", "1", "--", "sleep", "10"])
        #expect(slow.status == 124 && slow.stderr == "dbg: exec: timed out after 1 s (--timeout)\n")
        let captured = try dbg.run(["exec", "--capture", "--timeout", "1", "--", "sleep", "10"])
        #expect(captured.status == 124 && captured.stderr.hasSuffix("dbgd: timed out after 1 s\n"))
        let home = try dbg.run(["exec", "--cwd", "sub", "--", "pwd"])
        #expect(home.out == fixture.home + "/sub\n")
        // A command may run longer than an answer to anything else may take.
        let long = try dbg.run(["sh", "--connect-timeout", "1", "sleep 2; echo done"])
        #expect(long.status == 0 && long.out == "done\n")
    }

    @Test("--capture: truncated output warns on stderr; --fail-on-truncate makes it a failure; streaming cuts nothing")
    func truncation() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-output", "1K"])
        let dbg = DbgTool(agent)
        let cut = try dbg.run(["sh", "--capture", "head -c 5000 /dev/zero"])
        #expect(cut.status == 0 && cut.stdout.count == 1024 && cut.stderr.contains("dbg: warning: the agent kept only the first 1024 bytes of stdout"))
        #expect(try dbg.run(["sh", "--capture", "--fail-on-truncate", "head -c 5000 /dev/zero"]).status == 1)
        let streamed = try dbg.run(["sh", "head -c 100000 /dev/zero | tr '\\0' a"])
        #expect(streamed.status == 0 && streamed.stdout == [UInt8](repeating: UInt8(ascii: "a"), count: 100_000) && streamed.stderr.isEmpty)
    }

    @Test("login and connection failures: one clear line and their own exit statuses")
    func failures() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let wrong = try DbgTool(agent, password: "nope").run(["exec", "--", "true"])
        #expect(wrong.status == 254 && wrong.stderr == "dbg: logging in as runner on \(agent.tcp.description): Denied: authentication failed\n")
        let noPassword = try DbgTool(agent).run(["exec", "--", "true"], environment: ["DBG_PASSWORD": ""])
        #expect(noPassword.status == 254)
        let passwordFile = fixture.accounts.directory.appendingPathComponent("pw").path
        try "run\nignored\n".write(toFile: passwordFile, atomically: true, encoding: .utf8)
        #expect(try DbgTool(agent, password: "wrong").run(["exec", "--password-file", passwordFile, "--", "true"]).status == 0)
        let start = Date()
        let unreachable = try DbgTool(agent).run(["exec", "-H", "127.0.0.1:1", "--", "true"])
        #expect(unreachable.status == 255 && unreachable.stderr.hasPrefix("dbg: connecting to 127.0.0.1:1: ") && Date().timeIntervalSince(start) < 10)
        #expect(try DbgTool(agent).run(["exec"]).status == 64)
        let serial = try DbgTool(agent).run(["ping", "-H", "serial:/dev/ttyUSB0,115201"])
        #expect(serial.status == 64 && serial.stderr.contains("standard"))
    }

    @Test("info and ping, also as JSON")
    func infoAndPing() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        #expect(try dbg.run(["info"]).out.contains("agent:     dbgd 0.1.0"))
        let json = try dbg.run(["info", "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        #expect(object?["protocol"] as? Int == 1 && (object?["services"] as? [Int]) == [0, 0x60, 0x70])
        let pings = try dbg.run(["ping", "-c", "3", "--json"]).out.split(separator: "\n")
        #expect(pings.count == 3 && pings.allSatisfy { $0.hasPrefix(#"{"seq":"#) })
    }
}
