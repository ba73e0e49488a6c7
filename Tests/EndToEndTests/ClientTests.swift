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
    @Test("exec passes arguments exactly, relays both streams byte for byte, and exits with the remote status",
          .needs("streams"))
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

    @Test("--capture: truncated output warns on stderr; --fail-on-truncate makes it a failure; streaming cuts nothing",
          .needs("streams"))
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

    @Test("without streaming processes (DBG_STREAMS=OFF) exec and sh run captured when there is nothing to forward, and say so; with input to forward they stop with one line",
          .enabled(if: !AgentProcess.features.contains("streams")))
    func withoutStreams() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let note = "Unsupported: this dbgd was built without streaming processes (DBG_STREAMS=OFF); running it with --capture"
        let words = try dbg.run(["exec", "--", "printf", "%s|", "a b", "it's", "$HOME"])
        #expect(words.status == 0 && words.out == "a b|it's|$HOME|" && words.stderr.hasPrefix("dbg: exec: " + note), "\(words.stderr)")
        let shell = try dbg.run(["sh", "echo out; echo err >&2; exit 7"])
        #expect(shell.status == 7 && shell.out == "out\n" && shell.stderr.hasPrefix("dbg: sh: " + note) && shell.stderr.hasSuffix("\nerr\n"),
                "\(shell.stderr)")
        // stdin a pipe, a terminal asked for: the captured run could not do the same.
        let piped = try ChildProcess(["sh", "-c", "echo data | '\(DbgTool.binary)' exec -- cat"], environment: dbg.environment)
        #expect(piped.waitForExit(timeout: 30) == 1)
        #expect(String(decoding: piped.output.readDataToEndOfFile(), as: UTF8.self)
                == "dbg: exec: Unsupported: this dbgd was built without streaming processes (DBG_STREAMS=OFF); "
                + "--capture runs it without stdin, a terminal or --env\n")
        let terminal = try dbg.run(["exec", "-t", "--", "true"])
        #expect(terminal.status == 1 && terminal.stderr.hasSuffix("--capture runs it without stdin, a terminal or --env\n"))
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
        let info = try dbg.run(["info"]).out
        #expect(info.contains("agent:     dbgd 0.1.0") && info.contains("\nhttp:      off (dbgd --http ADDR:PORT"))
        if AgentProcess.features.contains("http") {
            let withHTTP = try fixture.startAgent(["--http", "127.0.0.1:0"])
            #expect(try DbgTool(withHTTP).run(["info"]).out.contains("\nhttp:      http://127.0.0.1:"), "where the web console is")
        }
        if AgentProcess.features.contains("forward") {
            #expect(info.contains("\nforward:   up to 64 streams"), "\(info)")
            let noForwarding = try fixture.startAgent(["--no-forwarding"])
            #expect(try DbgTool(noForwarding).run(["info"]).out.contains("\nforward:   off"))
        } else {
            #expect(info.contains("\nforward:   off"), "\(info)")
        }
        let json = try dbg.run(["info", "--json"]).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        #expect(object?["protocol"] as? Int == 1 && (object?["services"] as? [UInt32]) == AgentProcess.services)
        let pings = try dbg.run(["ping", "-c", "3", "--json"]).out.split(separator: "\n")
        #expect(pings.count == 3 && pings.allSatisfy { $0.hasPrefix(#"{"seq":"#) })
    }
}

@Suite("dbg client: where options go")
struct ClientOptionTests {
    @Test("-H, -u, --password-file and --connect-timeout before the command, after it, or from the environment")
    func positions() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        // The environment points nowhere useful: only the options can make these work.
        let dbg = DbgTool(agent)
        let elsewhere = ["DBG_HOST": "127.0.0.1:1", "DBG_USER": "nobody-such"]
        let target = agent.tcp.description
        let uid = "\(fixture.uid)\n"
        for arguments in [["-H", target, "-u", "runner", "exec", "--", "id", "-u"],
                          ["exec", "-H", target, "-u", "runner", "--", "id", "-u"],
                          ["--host=\(target)", "-urunner", "exec", "--", "id", "-u"],
                          ["-H", "127.0.0.1:1", "exec", "-H", target, "-u", "runner", "--", "id", "-u"]] {
            let outcome = try dbg.run(arguments, environment: elsewhere)
            #expect(outcome.status == 0 && outcome.out == uid, "\(arguments): \(outcome.status) \(outcome.stderr)")
        }
        // Nested commands take them too.
        let nested = try dbg.run(["-H", target, "-u", "runner", "distro", "status"], environment: elsewhere)
        #expect(!nested.stderr.contains("nknown option") && nested.status != 64, "\(nested.stderr)")
        // The password file, before the command, over a wrong DBG_PASSWORD.
        let passwordFile = FileManager.default.temporaryDirectory.appendingPathComponent("pw-\(UUID().uuidString.prefix(8))")
        try "run\n".write(to: passwordFile, atomically: true, encoding: .utf8)
        let withFile = try dbg.run(["--password-file", passwordFile.path, "-H", target, "-u", "runner", "exec", "--", "true"],
                                   environment: elsewhere.merging(["DBG_PASSWORD": "wrong"]) { $1 })
        #expect(withFile.status == 0, "\(withFile.stderr)")
        // Usage errors: 64 and one line.
        let missing = try dbg.run(["-H"])
        #expect(missing.status == 64 && missing.stderr == "dbg: -H needs a value (see dbg --help)\n", "\(missing.stderr)")
        let badTimeout = try dbg.run(["ping"], environment: ["DBG_CONNECT_TIMEOUT": "soon"])
        #expect(badTimeout.status == 64 && badTimeout.stderr.contains("DBG_CONNECT_TIMEOUT 'soon'"), "\(badTimeout.stderr)")
        let help = try dbg.run(["--help"])
        #expect(help.status == 0 && help.out.contains("These go before the command or after it"))
    }

    @Test("the command line: a remote command's own options pass through; mistakes are one line and 64; help, manual, completion")
    func commandLine() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        // After the program's name everything is the program's, dashes included.
        let passed = try dbg.run(["exec", "-H", agent.tcp.description, "printf", "%s|", "-H", "--help", "-x"])
        #expect(passed.status == 0 && passed.out == "-H|--help|-x|", "\(passed.stderr)")
        if AgentProcess.features.contains("streams") {
            let bundled = try dbg.run(["exec", "-ti", "--", "true"])
            #expect(bundled.status == 0, "\(bundled.stderr)")
        }
        for (arguments, line) in [
            (["bogus"], "dbg: unknown command 'bogus' (see dbg --help)\n"),
            (["ls", "--bogus"], "dbg: unknown option '--bogus' (see dbg ls --help)\n"),
            (["ls", "a", "b"], "dbg: unexpected argument 'b' (see dbg ls --help)\n"),
            (["mv", "a"], "dbg: missing TO (see dbg mv --help)\n"),
            (["ping", "-c", "0"], "dbg: --count '0': expected a number from 1 to 1000000\n"),
            (["ls", "--json=yes"], "dbg: --json takes no value\n"),
            (["wait", "--for", "ever"], "dbg: --for 'ever': expected reachable or login\n"),
        ] {
            let outcome = try dbg.run(arguments)
            #expect(outcome.status == 64 && outcome.stderr == line, "\(arguments): \(outcome.stderr)")
        }
        let bare = try dbg.run([])
        #expect(bare.status == 64 && bare.stderr.hasPrefix("Usage: dbg [OPTIONS] COMMAND"))
        let help = try dbg.run(["help", "distro", "run"])
        #expect(help.status == 0 && help.out.hasPrefix("Usage: dbg distro run [OPTIONS] [--] PROGRAM [ARG...]"))
        #expect(try dbg.run(["push", "--help"]).out == dbg.run(["help", "push"]).out)
        let version = try dbg.run(["--version"])
        #expect(version.status == 0 && version.out.hasPrefix("dbg 0.1.0 (protocol 1)"))
        let manual = try dbg.run(["--manual"])
        #expect(manual.status == 0 && manual.out.hasPrefix(".TH DBG 1") && manual.out.contains(#".SS "dbg distro run"#))
        for shell in ["bash", "zsh", "fish"] {
            let script = try dbg.run(["--generate-completion-script", shell])
            #expect(script.status == 0 && script.out.contains("dbg"), "\(shell)")
        }
        let bash = try dbg.run(["--generate-completion-script", "bash"]).out
        let check = try ChildProcess(["bash", "-c", bash + "\nCOMP_WORDS=(dbg distro r); COMP_CWORD=2; _dbg; echo ${COMPREPLY[@]}"])
        #expect(String(decoding: check.output.readDataToEndOfFile(), as: UTF8.self) == "run remove\n")
        #expect(check.waitForExit(timeout: 10) == 0)
    }
}

extension ClientOptionTests {
    /// A TCP port nobody listens on right now.
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1 }
        }
        return UInt16(bigEndian: address.sin_port)
    }

    @Test("dbg wait and --wait: an agent started 2 s later is waited for; nothing at all times out with exit 1; a wrong password exits 254")
    func waiting() throws {
        let fixture = try CommandFixture()
        let target = "127.0.0.1:\(Self.freePort())"
        let environment = ["DBG_HOST": target, "DBG_USER": "runner", "DBG_PASSWORD": "run"]
        let waiter = try ChildProcess([DbgTool.binary, "wait", "--timeout", "30", "--for", "login"], environment: environment)
        let command = try ChildProcess([DbgTool.binary, "--wait", "30", "exec", "--capture", "--", "echo", "late"],
                                       environment: environment)
        Thread.sleep(forTimeInterval: 2)
        #expect(waiter.isRunning && command.isRunning)
        let started = Date()
        let agent = try AgentProcess(["--listen", target] + fixture.accounts.shadowFlags)
        #expect(waiter.waitForExit(timeout: 30) == 0)
        #expect(command.waitForExit(timeout: 30) == 0)
        #expect(String(decoding: command.output.readDataToEndOfFile(), as: UTF8.self) == "late\n")
        #expect(Date().timeIntervalSince(started) < 5, "found within a few retries")

        let dbg = DbgTool(agent)
        let nothing = try dbg.run(["wait", "-H", "127.0.0.1:1", "--timeout", "1"])
        #expect(nothing.status == 1 && nothing.stderr.hasPrefix("dbg: wait: 127.0.0.1:1 did not answer within 1 s"), "\(nothing.stderr)")
        let denied = try dbg.run(["wait", "--for", "login", "--timeout", "10"], environment: ["DBG_PASSWORD": "wrong"])
        #expect(denied.status == 254, "\(denied.stderr)")
        let reachable = try dbg.run(["wait"])
        #expect(reachable.status == 0 && reachable.stderr.isEmpty)
    }
}

extension ClientOptionTests {
    @Test("named boards: -b NAME (or DBG_BOARD) takes host, port, user and password file; dbg boards lists them; mistakes exit 64")
    func namedBoards() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        guard case .tcp(let host, let port) = agent.tcp else { throw AgentProcessError("no TCP address") }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "run\n".write(to: folder.appendingPathComponent("lab.pw"), atomically: true, encoding: .utf8)
        let config = folder.appendingPathComponent("config")
        try """
            # boards of the lab
            [lab]
            host = \(host)
            port = \(port)
            user = runner
            password-file = \(folder.path)/lab.pw

            [gone]
            host = 127.0.0.1:1
            connect-timeout = 2
            """.write(to: config, atomically: true, encoding: .utf8)
        let dbg = DbgTool(agent)
        let elsewhere = ["DBG_CONFIG": config.path, "DBG_HOST": "127.0.0.1:1", "DBG_USER": "nobody-such", "DBG_PASSWORD": "wrong"]
        let uid = "\(fixture.uid)\n"
        for arguments in [["-b", "lab", "exec", "--", "id", "-u"], ["exec", "--board", "lab", "--", "id", "-u"]] {
            let outcome = try dbg.run(arguments, environment: elsewhere)
            #expect(outcome.status == 0 && outcome.out == uid, "\(arguments): \(outcome.stderr)")
        }
        let fromEnvironment = try dbg.run(["exec", "--", "id", "-u"], environment: elsewhere.merging(["DBG_BOARD": "lab"]) { $1 })
        #expect(fromEnvironment.status == 0 && fromEnvironment.out == uid, "\(fromEnvironment.stderr)")
        // The command line beats the entry.
        let overridden = try dbg.run(["-b", "gone", "-H", agent.tcp.description, "-u", "runner", "--password-file",
                                      "\(folder.path)/lab.pw", "exec", "--", "true"], environment: elsewhere)
        #expect(overridden.status == 0, "\(overridden.stderr)")
        let unknown = try dbg.run(["-b", "nope", "exec", "--", "true"], environment: elsewhere)
        #expect(unknown.status == 64 && unknown.stderr == "dbg: no board named 'nope' in \(config.path) (dbg boards lists them)\n",
                "\(unknown.stderr)")
        let listed = try dbg.run(["boards"], environment: elsewhere)
        #expect(listed.status == 0 && listed.out == "lab   \(host):\(port)  user runner\ngone  127.0.0.1:1\n", "\(listed.out)")
        let json = try dbg.run(["boards", "--json"], environment: elsewhere)
        #expect(json.out.hasPrefix("[{\"name\":\"lab\",\"host\":\"\(host):\(port)\",\"user\":\"runner\""), "\(json.out)")
        // A line the file cannot mean is an error that says where.
        try "[lab]\nhost = x\ncolour = red\n".write(to: config, atomically: true, encoding: .utf8)
        let broken = try dbg.run(["-b", "lab", "exec", "--", "true"], environment: elsewhere)
        #expect(broken.status == 64 && broken.stderr.hasPrefix("dbg: \(config.path):3: unknown key 'colour'"), "\(broken.stderr)")
    }
}
