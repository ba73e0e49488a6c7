import DbgClient
import DbgWire
import Foundation
import LineSimulator
import Testing

/// dbg and dbgd over a serial line: two PTY pairs and a simulated cable between them
/// (LineSimulator), clean or damaging bytes.
@Suite("Serial lines", .serialized, .needs("serial"), .needs("shells"))
struct SerialTests {
    static let baud = 3_000_000

    /// An agent serving the cable's agent end (and TCP, which the fixture adds), and dbg
    /// set to reach it over the cable.
    struct SerialFixture {
        let fixture: CommandFixture
        let line: LineSimulator
        let agent: AgentProcess
        let dbg: DbgTool
        let target: String

        init(errorEvery: Int = 0, baud: Int = SerialTests.baud) throws {
            fixture = try CommandFixture()
            line = try LineSimulator(baud: baud, errorEvery: errorEvery)
            agent = try fixture.startAgent(["--serial", "\(line.agentDevice),\(baud)"])
            target = "serial:\(line.clientDevice),\(baud)"
            var tool = DbgTool(agent)
            tool.environment["DBG_HOST"] = target
            dbg = tool
        }

        /// The agent's count of dropped line frames, from the log line of the last link
        /// that closed (the counts add up over the line's life).
        func droppedFrames() -> Int? {
            Thread.sleep(forTimeInterval: 0.5)  // the last client's CLOSE
            guard let line = agent.log.last(where: { $0.contains("link closed by the client") }),
                  let range = line.range(of: #"(\d+) frames dropped"#, options: .regularExpression) else { return nil }
            return Int(line[range].split(separator: " ")[0])
        }
    }

    func transfers(_ serial: SerialFixture) throws {
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("serial-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
        let source = local.appendingPathComponent("one.bin")
        try Data((0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }).write(to: source)
        let remote = serial.fixture.home + "/one.bin"
        let push = try serial.dbg.run(["push", "--verify", source.path, remote], timeout: 120)
        #expect(push.status == 0, "push: \(push.stderr)")
        let back = local.appendingPathComponent("back.bin")
        let pull = try serial.dbg.run(["pull", "--verify", remote, back.path], timeout: 120)
        #expect(pull.status == 0, "pull: \(pull.stderr)")
        #expect(try Data(contentsOf: back) == Data(contentsOf: source))
    }

    func shellIsExact(_ serial: SerialFixture) throws {
        let expected = (1...3000).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let script = "i=1; while [ $i -le 3000 ]; do echo line $i; i=$((i+1)); done > /dev/null\n"
            + "i=1; while [ $i -le 3000 ]; do echo line $i; i=$((i+1)); done; exit 7\n"
        guard AgentProcess.features.contains("streams") else {
            // Without streaming processes no script goes in on stdin: the same output
            // comes back in one captured answer.
            let captured = try serial.dbg.run(["sh", "--capture", script], timeout: 120)
            #expect(captured.status == 7 && captured.out == expected, "captured output differs (\(captured.out.count) bytes)")
            return
        }
        let child = try ChildProcess([DbgTool.binary, "shell"], environment: serial.dbg.environment, withInput: true)
        child.input!.write(Data(script.utf8))
        let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
        #expect(child.waitForExit(timeout: 120) == 7)
        #expect(output.contains(expected), "shell output differs (\(output.count) bytes)")
    }

    @Test("auth, exec, shell and a verified 1 MiB push and pull over a clean line")
    func cleanLine() throws {
        let serial = try SerialFixture()
        let id = try serial.dbg.run(["exec", "--", "id", "-u"])
        #expect(id.status == 0 && id.out == "\(serial.fixture.uid)\n", "exec: \(id.stderr)" as Comment)
        let info = try serial.dbg.run(["info", "--json"])
        #expect(info.out.contains("serial:"), "\(info.out)")
        // The line's connection is bridged through a socketpair inside the agent; its peer
        // is still nobody in particular: the file ops want a session, as on TCP.
        do {
            let raw = try AgentConnection(.serial(path: serial.line.clientDevice, baud: SerialTests.baud))
            #expect(remoteCode { _ = try RemoteFiles(connection: raw, token: WireBytes([])).stat("/") } == .unauthenticated)
        }
        try transfers(serial)
        try shellIsExact(serial)
        #expect(serial.droppedFrames() == 0)
    }

    @Test("a line that damages one byte in 10,000: nothing lost, nothing doubled, the drops counted")
    func noisyLine() throws {
        let serial = try SerialFixture(errorEvery: 10_000)
        let id = try serial.dbg.run(["exec", "--", "id", "-u"])
        #expect(id.status == 0 && id.out == "\(serial.fixture.uid)\n", "exec: \(id.stderr)" as Comment)
        try transfers(serial)
        try shellIsExact(serial)
        #expect(serial.line.statistics.damaged > 50)
        #expect((serial.droppedFrames() ?? 0) > 0, "\(serial.agent.log.filter { $0.contains("link") }.joined(separator: "\n"))")
    }

    static let ser2net = "/usr/sbin/ser2net"

    /// A remote lab's serial port: ser2net exports the cable's client end over TCP, raw or
    /// as telnet with RFC 2217, and dbg reaches the agent through it.
    @Test("a serial port exported by ser2net: raw TCP (socket://) and telnet with RFC 2217 (rfc2217://)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: SerialTests.ser2net)), arguments: [false, true])
    func portServer(telnet: Bool) throws {
        let baud = 921_600
        let serial = try SerialFixture(baud: baud)
        let port = ClientOptionTests.freePort()
        let accepter = (telnet ? "telnet(rfc2217),tcp" : "tcp") + ",127.0.0.1,\(port)"
        let yaml = "connection: &dbg#  accepter: \(accepter)#  connector: serialdev,\(serial.line.clientDevice),\(baud)n81,local#"
            + "  options:#    kickolduser: true"
        let server = try ChildProcess([SerialTests.ser2net, "-n", "-u", "-Y", yaml])
        defer { server.stop() }
        let deadline = Date(timeIntervalSinceNow: 10)
        while (try? AgentConnection(.tcp(host: "127.0.0.1", port: port), timeoutSeconds: 1)) == nil, Date() < deadline {
            usleep(50_000)
        }
        var dbg = serial.dbg
        dbg.environment["DBG_HOST"] = (telnet ? "rfc2217" : "socket") + "://127.0.0.1:\(port),\(baud)"
        let id = try dbg.run(["exec", "--", "id", "-u"])
        #expect(id.status == 0 && id.out == "\(serial.fixture.uid)\n", "\(id.stderr)")
        // Every byte value both ways (255 is telnet's escape), verified.
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("ser2net-\(UUID().uuidString.prefix(8))")
        try Data((0..<(128 << 10)).map { UInt8(truncatingIfNeeded: $0 % 7 == 0 ? 255 : $0) }).write(to: source)
        let remote = serial.fixture.home + "/ser2net.bin"
        let push = try dbg.run(["push", "--verify", source.path, remote], timeout: 120)
        #expect(push.status == 0, "push: \(push.stderr)")
        let back = source.appendingPathExtension("back")
        let pull = try dbg.run(["pull", "--verify", remote, back.path], timeout: 120)
        #expect(pull.status == 0, "pull: \(pull.stderr)")
        #expect(try Data(contentsOf: back) == Data(contentsOf: source))
    }

    /// The answer to a 256 KiB WriteFile comes once the chunk has crossed the line, which
    /// at 460800 baud takes about 6 s: longer than the answer timeout, while the link
    /// moves on all along.
    @Test("a slow line that keeps moving does not run into the answer timeout")
    func slowLineMovingOn() throws {
        let serial = try SerialFixture(baud: 460_800)
        let source = FileManager.default.temporaryDirectory.appendingPathComponent("slow-\(UUID().uuidString.prefix(8))")
        try Data((0..<(256 << 10)).map { _ in UInt8.random(in: 0...255) }).write(to: source)
        let push = try serial.dbg.run(["push", "--connect-timeout", "2", source.path, serial.fixture.home + "/slow.bin"], timeout: 120)
        #expect(push.status == 0, "push: \(push.stderr)")
        let hash = try serial.dbg.run(["hash", serial.fixture.home + "/slow.bin"])
        #expect(hash.out.hasPrefix(try sha256Hex(Array(Data(contentsOf: source)))), "\(hash.out) \(hash.stderr)")
    }

    /// While nothing comes back from the client, only the agent's own timer can send
    /// its packets again: a pull survives a second of silence toward the agent.
    @Test("the agent retransmits on its own timer when the line toward it goes silent")
    func silenceTowardAgent() throws {
        let serial = try SerialFixture()
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("silence-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
        let source = local.appendingPathComponent("half.bin")
        try Data((0..<(512 << 10)).map { _ in UInt8.random(in: 0...255) }).write(to: source)
        let remote = serial.fixture.home + "/half.bin"
        #expect(try serial.dbg.run(["push", source.path, remote], timeout: 60).status == 0)
        let back = local.appendingPathComponent("back.bin")
        let pull = try ChildProcess([DbgTool.binary, "pull", remote, back.path], environment: serial.dbg.environment)
        Thread.sleep(forTimeInterval: 0.4)
        serial.line.cutTowardAgent(true)
        Thread.sleep(forTimeInterval: 1.2)
        serial.line.cutTowardAgent(false)
        _ = pull.output.readDataToEndOfFile()
        #expect(pull.waitForExit(timeout: 30) == 0)
        #expect(try Data(contentsOf: back) == Data(contentsOf: source))
    }

    @Test("a client that comes back resets the line: the earlier session and its shell are gone")
    func clientComesBack() throws {
        let serial = try SerialFixture()
        // A shell whose client dies without a word (no CLOSE on the line); without
        // streaming processes, a captured command that says its PID through a file.
        let pidFile = serial.fixture.home + "/shell.pid"
        let streams = AgentProcess.features.contains("streams")
        let first = streams
            ? try ChildProcess([DbgTool.binary, "shell"], environment: serial.dbg.environment, withInput: true)
            : try ChildProcess([DbgTool.binary, "sh", "--capture", "echo PID=$$. > '\(pidFile)'; exec sleep 100"],
                               environment: serial.dbg.environment)
        if streams { first.input!.write(Data("echo PID=$$.\n".utf8)) }
        var seen = Data()
        let deadline = Date(timeIntervalSinceNow: 30)
        while String(decoding: seen, as: UTF8.self).range(of: #"PID=\d+\."#, options: .regularExpression) == nil, Date() < deadline {
            if streams {
                seen += first.output.availableData
            } else {
                seen = (try? Data(contentsOf: URL(fileURLWithPath: pidFile))) ?? Data()
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let text = String(decoding: seen, as: UTF8.self)
        let match = text.range(of: #"PID=\d+\."#, options: .regularExpression)
        let shellPID = match.map { pid_t(text[$0].dropFirst(4).dropLast())! }
        #expect(shellPID != nil, "no PID in: \(text)")
        first.signal(SIGKILL)
        _ = first.waitForExit(timeout: 10)
        // The next client resets the link; the agent ends the old connection and its shell.
        #expect(try serial.dbg.run(["exec", "--", "true"]).status == 0)
        #expect(serial.agent.waitForLine(timeout: 10) { $0.contains("link reset by a client") } != nil)
        if let shellPID {
            let gone = Date(timeIntervalSinceNow: 5)
            while kill(shellPID, 0) == 0 && Date() < gone { Thread.sleep(forTimeInterval: 0.05) }
            #expect(kill(shellPID, 0) != 0, "the old shell \(shellPID) still runs")
        }
    }

    @Test("a device that is not there yet is waited for, and one that goes away is reopened")
    func deviceComesAndGoes() throws {
        let fixture = try CommandFixture()
        let line = try LineSimulator(baud: SerialTests.baud)
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("ttyGS-\(UUID().uuidString.prefix(8))").path
        let agent = try fixture.startAgent(["--serial", "\(link),\(SerialTests.baud)"])
        #expect(agent.waitForLine(timeout: 5) { $0.contains("trying again every second") } != nil)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: line.agentDevice)
        #expect(agent.waitForLine(timeout: 5) { $0.contains("open at \(SerialTests.baud) baud") } != nil)
        var dbg = DbgTool(agent)
        dbg.environment["DBG_HOST"] = "serial:\(line.clientDevice),\(SerialTests.baud)"
        #expect(try dbg.run(["ping"]).status == 0)
        // Unplugged: the PTY disappears; plugged in again: a new one under the same name.
        line.stop()
        #expect(agent.waitForLine(timeout: 10) { $0.contains("hung up") || $0.contains("read failed") } != nil)
        let again = try LineSimulator(baud: SerialTests.baud)
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: again.agentDevice)
        #expect(agent.waitForLines(2, timeout: 10) { $0.contains("open at \(SerialTests.baud) baud") } == 2,
                "\(agent.log.suffix(8).joined(separator: "\n"))")
        dbg.environment["DBG_HOST"] = "serial:\(again.clientDevice),\(SerialTests.baud)"
        #expect(try dbg.run(["exec", "--", "true"]).status == 0)
    }

    @Test("bad serial targets and flags are usage errors")
    func badArguments() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        var dbg = DbgTool(agent)
        dbg.environment["DBG_HOST"] = "serial:/dev/null,12345"
        let odd = try dbg.run(["ping"])
        #expect(odd.status == 64 && odd.stderr.contains("standard"), "\(odd.stderr)")
        dbg.environment["DBG_HOST"] = "serial:/no/such/tty"
        let missing = try dbg.run(["ping"])
        #expect(missing.status == 255 && missing.stderr.contains("/no/such/tty"), "\(missing.stderr)")
        let refused = try AgentProcess(["--serial", "/dev/null,12345"], ready: false)
        #expect(refused.waitForExit(timeout: 10) == 2)
    }
}
