import DbgClient
import DbgWire
import Foundation
import Testing

/// Runs a shell pipeline with dbg on PATH (as `dbg`) and the agent's address in the
/// environment; returns its status, stdout and stderr.
private func pipeline(_ dbg: DbgTool, _ script: String, timeout: TimeInterval = 120) throws -> (status: Int32, out: String, err: String) {
    let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-err-\(UUID().uuidString.prefix(8))")
    defer { try? FileManager.default.removeItem(at: errFile) }
    let directory = URL(fileURLWithPath: DbgTool.binary).deletingLastPathComponent().path
    var environment = dbg.environment
    environment["PATH"] = directory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
    let child = try ChildProcess(["sh", "-c", "(" + script + ") 2>'\(errFile.path)'"], environment: environment)
    let out = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
    let status = child.waitForExit(timeout: timeout) ?? -1
    return (status, out, (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
}

/// What `child` writes, read until `enough` holds for it (or the output ends).
private func readOutput(of child: ChildProcess, until enough: (String) -> Bool) -> String {
    var seen = ""
    while !enough(seen) {
        let data = child.output.availableData
        guard !data.isEmpty else { break }
        seen += String(decoding: data, as: UTF8.self)
    }
    return seen
}

@Suite("dbg client: streamed exec and sh", .needs("streams"))
struct ClientStreamingTests {
    /// 256 MiB natively; 16 MiB under an emulator.
    static var bigSize: Int { AgentProcess.isEmulated ? 16 << 20 : 256 << 20 }

    @Test("256 MiB in through stdin and 256 MiB out, checksums equal; stdout and stderr interleaved and kept apart")
    func bulk() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let file = fixture.home + "/big.bin"
        let size = Self.bigSize
        let made = try pipeline(dbg, "head -c \(size) /dev/urandom > '\(file)' && chmod 644 '\(file)' && sha256sum < '\(file)'")
        let local = String(made.out.prefix(64))
        #expect(made.status == 0 && local.count == 64)
        let into = try pipeline(dbg, "dbg exec -- sha256sum < '\(file)'")
        #expect(into.status == 0 && into.out.prefix(64) == local, "\(into.err)")
        let out = try pipeline(dbg, "dbg exec -- cat '\(file)' | sha256sum")
        #expect(out.status == 0 && out.out.prefix(64) == local, "\(out.err)")
        // Binary on both streams, interleaved: each arrives whole on its own side, as
        // when the same script runs here.
        let script = fixture.home + "/mixed.sh"
        try "i=0; while [ $i -lt 300 ]; do printf 'o\\000%d\\n' $i; printf 'e\\377%d\\n' $i >&2; i=$((i+1)); done\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        let compared = try pipeline(dbg, """
            cd '\(fixture.home)' && sh mixed.sh > local.out 2> local.err && dbg exec -- sh mixed.sh > remote.out 2> remote.err \
            && cmp local.out remote.out && cmp local.err remote.err && wc -c < remote.err
            """)
        #expect(compared.status == 0 && Int(compared.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 1000, "\(compared)")
    }

    @Test("yes | dbg exec -- head -n 1: the remote end stops reading, dbg exits 0 without an error")
    func readerStops() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let result = try pipeline(DbgTool(agent), "yes | dbg exec -- head -n 1")
        #expect(result.status == 0 && result.out == "y\n" && result.err.isEmpty, "\(result)")
        // And the other way round: the local reader stops (dbg exec -- yes | head): dbg
        // ends quietly with SIGPIPE's status, the remote yes goes with it.
        let reversed = try pipeline(DbgTool(agent), "dbg exec -- yes | head -n 1")
        #expect(reversed.out.hasPrefix("y\n") && reversed.err.isEmpty, "\(reversed)")
        // One look at the children: a second one could find the first already gone.
        let left = children(of: agent.pid).all
        #expect(left.allSatisfy { processGone($0, within: 3) })
    }

    @Test("a script piped into dbg shell ends every time, with its status, and only its own output")
    func shellScript() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        for round in 0..<20 {
            // No `exit`: the end of the script ends the shell.
            let result = try pipeline(dbg, "printf 'id -u\\nfalse\\n' | dbg shell", timeout: 30)
            #expect(result.status == 1 && result.out == "\(fixture.uid)\n" && result.err.isEmpty, "round \(round): \(result)")
        }
        let status = try pipeline(dbg, "printf 'echo a; exit 5\\n' | dbg shell")
        #expect(status.status == 5 && status.out == "a\n")
    }

    @Test("tar c | dbg exec -- tar x copies a tree, file by file")
    func tarPipe() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-tree-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: source) }
        let target = fixture.home + "/copy"
        let made = try pipeline(dbg, """
            mkdir -p '\(source)/a/b' '\(target)' && head -c 3000000 /dev/urandom > '\(source)/a/b/random.bin' \
            && printf 'x' > '\(source)/one' && : > '\(source)/a/empty' && ln -s one '\(source)/link' \
            && chmod -R a+rX '\(source)' && chown \(fixture.uid) '\(target)' 2>/dev/null; true
            """)
        #expect(made.status == 0)
        let copied = try pipeline(dbg, "tar c -C '\(source)' . | dbg exec -- tar x -C '\(target)'")
        #expect(copied.status == 0, "\(copied.err)")
        let compared = try pipeline(dbg, "diff -r --no-dereference '\(source)' '\(target)' && echo same")
        #expect(compared.out == "same\n", "\(compared.out) \(compared.err)")
    }

    @Test("Ctrl-C on a real terminal ends the remote program within 1 s; SIGTERM reaches its trap")
    func signals() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        var terminal = try LocalTerminalDriver(dbg, ["exec", "--", "sh", "-c", "echo PID=$$.; exec sleep 100"], controlling: true,
                                               rows: 24, cols: 80)
        defer { terminal.child.signal(SIGKILL) }
        try terminal.expect(".")
        let text = terminal.screen
        let pid = pid_t(text[text.range(of: "PID=")!.upperBound...].prefix { $0.isNumber })!
        terminal.type("\u{3}")  // the local terminal driver makes it SIGINT for dbg
        #expect(processGone(pid, within: 1.0), "the remote sleep ends")
        #expect(terminal.child.waitForExit(timeout: 10) == 130)
        // SIGTERM to dbg: the remote trap runs and its status comes back.
        let child = try ChildProcess([DbgTool.binary, "exec", "--", "sh", "-c", "trap \"echo got TERM; exit 3\" TERM; echo ready; sleep 100"],
                                     environment: dbg.environment)
        var seen = readOutput(of: child) { $0.contains("ready") }
        child.signal(SIGTERM)
        seen += String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(child.waitForExit(timeout: 10) == 3)
        #expect(seen.hasPrefix("ready\n") && seen.contains("got TERM\n"), "\(seen)")  // (and sh may report the killed sleep)
    }

    @Test("a client killed with SIGKILL: its remote process group is gone within the grace period")
    func clientKilled() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let child = try ChildProcess([DbgTool.binary, "exec", "--", "sh", "-c", "trap '' HUP; echo $$; exec sleep 100"],
                                     environment: dbg.environment)
        let seen = readOutput(of: child) { $0.hasSuffix("\n") }
        let pid = try #require(pid_t(seen.dropLast()))
        child.signal(SIGKILL)
        #expect(processGone(pid, within: 4.0), "SIGHUP is ignored; SIGKILL follows 2 s later")
        #expect(children(of: agent.pid).zombies == 0)
    }

    @Test("a client that stops reading stalls its own process only: the agent's memory stays put, pings go on")
    func stalledReader() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = ProcessDriver(try fixture.login(agent))
        let flood = try driver.start(argv: ["cat", "/dev/zero"])
        try driver.read { (driver.stdout[flood]?.count ?? 0) > 1 << 20 }
        let startKiB = agent.residentKiB()
        let witness = try agent.connect()
        var slowest: TimeInterval = 0
        let until = Date(timeIntervalSinceNow: 5)
        while Date() < until {  // the driver reads nothing meanwhile
            let sent = Date()
            _ = try witness.ping([1])
            slowest = max(slowest, Date().timeIntervalSince(sent))
            usleep(20_000)
        }
        let grown = agent.residentKiB() - startKiB
        try driver.signal(flood, SIGKILL)
        try driver.wait(flood)
        #expect(slowest < (AgentProcess.isEmulated ? 0.25 : 0.05), "slowest ping \(slowest * 1000) ms")
        if !AgentProcess.isEmulated { #expect(grown < 1024, "the agent grew by \(grown) KiB") }
    }
}
