import DbgClient
import DbgWire
import Foundation
import Testing

/// A shell as a test drives it: keystrokes in, events out, sorted per SessionID.
final class ShellDriver {
    let session: LoggedIn
    private(set) var output: [UInt32: [UInt8]] = [:]
    private(set) var exits: [UInt32: Int64] = [:]
    private(set) var errors: [ReceivedFrame] = []

    init(_ session: LoggedIn) { self.session = session }

    var connection: AgentConnection { session.connection }

    func open(rows: Int64 = 0, cols: Int64 = 0, cwd: String = "") throws -> UInt32 {
        try connection.openShell(token: session.token, cwd: cwd, rows: rows, cols: cols)
    }

    func type(_ shell: UInt32, _ text: String) throws { try connection.shellInput(token: session.token, shell: shell, Array(text.utf8)) }

    func text(_ shell: UInt32) -> String { String(decoding: output[shell] ?? [], as: UTF8.self) }

    /// Reads events until `done` holds (or the time runs out).
    func read(timeout: TimeInterval = 20, until done: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !done() {
            guard Date() < deadline else { throw AgentProcessError("timed out; output so far: \(output.mapValues { String(decoding: $0.suffix(300), as: UTF8.self) })") }
            handle(try connection.receive())
        }
    }

    func handle(_ frame: ReceivedFrame) {
        switch (frame.header.kind, frame.header.op) {
        case (.event, Dbg.Event.shellOutput.rawValue):
            if let event = try? frame.decode(ShellOutputEvent.self) { output[event.sessionID, default: []] += event.data.bytes }
        case (.event, Dbg.Event.shellExit.rawValue):
            if let event = try? frame.decode(ShellExitEvent.self) { exits[event.sessionID] = event.exitCode }
        default:
            errors.append(frame)
        }
    }

    /// Waits for output containing `text`.
    func expect(_ shell: UInt32, _ text: String, timeout: TimeInterval = 20) throws {
        try read(timeout: timeout) { self.text(shell).contains(text) }
    }

    /// The shell's process id, asked of the shell itself.
    func pid(_ shell: UInt32) throws -> pid_t {
        try type(shell, "echo PID=$$.\n")
        try read { self.text(shell).range(of: #"PID=\d+\."#, options: .regularExpression) != nil }
        let match = text(shell).range(of: #"PID=\d+\."#, options: .regularExpression)!
        return pid_t(text(shell)[match].dropFirst(4).dropLast())!
    }
}

/// User plus system CPU time of a process, in seconds.
func cpuSeconds(of pid: pid_t) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    return (Double(fields[11]) ?? 0) / 100 + (Double(fields[12]) ?? 0) / 100
}

func processGone(_ pid: pid_t, within seconds: TimeInterval) -> Bool {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while Date() < deadline {
        // A zombie (reaped soon by the agent) counts as gone: it runs no more.
        let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
        if kill(pid, 0) != 0 || state == "Z" { return true }
        usleep(20_000)
    }
    return false
}

@Suite("Interactive shells", .needs("shells"))
struct ShellTests {
    @Test("echo, then exit 3: the output comes first, then ShellExit 3; the SessionID is then gone")
    func echoAndExit() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        try shell.type(id, "echo hel''lo; exit 3\n")
        try shell.read { shell.exits[id] != nil }
        #expect(shell.exits[id] == 3)
        #expect(shell.text(id).contains("hello\r\n"))
        #expect(throws: ClientError.remote(code: .notFound, errno: 0, message: "no shell with SessionID \(id)")) {
            let _: Empty = try shell.connection.call(service: ServiceID.dbg, op: Dbg.Op.shellInput.rawValue,
                Dbg.ShellInputRequest(token: WireBytes(shell.session.token), sessionID: id, data: "x"))
        }
    }

    @Test("a login shell with TERM, in the right directory, 24x80 by default; resize to 40x120")
    func terminal() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open(cwd: "sub")
        try shell.type(id, "echo \"[$0|$TERM|$(pwd)|$(stty size)]\"\n")
        try shell.expect(id, "[-sh|xterm-256color|\(fixture.home)/sub|24 80]")
        try shell.connection.resizeShell(token: shell.session.token, shell: id, rows: 40, cols: 120)
        try shell.type(id, "stty size\n")
        try shell.expect(id, "40 120\r\n")
    }

    @Test("Ctrl-C interrupts the command running in the shell")
    func interrupt() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        try shell.type(id, "sleep 100\n")
        usleep(300_000)
        let start = Date()
        try shell.type(id, "\u{03}")
        try shell.type(id, "echo after-$?\n")
        try shell.expect(id, "after-130", timeout: 5)
        #expect(Date().timeIntervalSince(start) < 3)
    }

    @Test("100 MiB of output to a slow reader arrives byte for byte; the agent's memory stays put")
    func bulkOutput() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        let startKiB = agent.residentKiB()
        // seq 1..13,000,000 prints about 106 MB; without output processing, "\n" stays "\n".
        // What arrives between the markers goes through a local cksum, to compare with
        // cksum of the same seq run here: every byte, in order.
        let last = 13_000_000
        let checksum = try ChildProcess(["cksum"], withInput: true)
        try shell.type(id, "stty -echo -opost; printf '<<%s\\n' go; seq 1 \(last); printf '>>\\n'; exit\n")
        var started = false
        var finished = false
        var pending: [UInt8] = []
        var received = 0
        var peakKiB = startKiB
        while shell.exits[id] == nil {
            let frame = try shell.connection.receive()
            guard frame.header.op == Dbg.Event.shellOutput.rawValue, !finished else {
                shell.handle(frame)
                continue
            }
            var data = try frame.decode(ShellOutputEvent.self).data.bytes
            if !started {
                pending += data
                guard let marker = pending.firstRange(of: Array("<<go\n".utf8)) else { continue }
                started = true
                data = Array(pending[marker.upperBound...])
            }
            if let end = data.firstIndex(of: UInt8(ascii: ">")) {
                data = Array(data[..<end])
                finished = true
            }
            checksum.input!.write(Data(data))
            received += data.count
            if received % (8 << 20) < data.count {
                usleep(50_000)  // a slow reader: the agent must pause the PTY, not buffer
                if !AgentProcess.isEmulated { peakKiB = max(peakKiB, agent.residentKiB()) }
            }
        }
        try checksum.input!.close()
        let got = String(decoding: checksum.output.readDataToEndOfFile(), as: UTF8.self)
        let reference = try ChildProcess(["sh", "-c", "seq 1 \(last) | cksum"])
        let want = String(decoding: reference.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(finished && got == want, "received \(received) bytes")
        #expect(received >= 100 << 20)
        #expect(shell.exits[id] == 0)
        if !AgentProcess.isEmulated { #expect(peakKiB - startKiB < 2048, "RSS went from \(startKiB) to \(peakKiB) KiB") }
    }

    @Test("a shell that ends while its client is not reading is finished later, without spinning the agent")
    func exitWhileClientIsBehind() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        try shell.type(id, "stty -echo; echo qu''iet\n")
        try shell.expect(id, "quiet")
        try shell.type(id, "head -c 20M /dev/zero | tr '\\0' x; exit 7\n")
        let cpuBefore = cpuSeconds(of: agent.pid)
        sleep(2)  // not reading: the agent's transmit buffer is full and the shell has exited
        let cpuUsed = cpuSeconds(of: agent.pid) - cpuBefore
        #expect(cpuUsed < 0.5, "the agent used \(cpuUsed) s of CPU while waiting for the client")
        try shell.read(timeout: 60) { shell.exits[id] != nil }
        #expect(shell.exits[id] == 7)
        #expect((shell.output[id] ?? []).filter { $0 == UInt8(ascii: "x") }.count == 20 << 20)
    }

    @Test("ShellClose, Logout and disconnect each hang the shell up", arguments: ["close", "logout", "disconnect"])
    func hangUps(_ how: String) throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let shell = ShellDriver(session)
        let id = try shell.open()
        let pid = try shell.pid(id)
        switch how {
        case "close":
            try shell.connection.closeShell(token: session.token, shell: id)
            try shell.read(timeout: 5) { shell.exits[id] != nil }
            #expect(shell.exits[id] == 129)  // SIGHUP
        case "logout":
            try session.connection.logout(token: session.token)
            try shell.read(timeout: 5) { shell.exits[id] != nil }
        default:
            session.connection.shutdownSending()
            _ = session.connection.framesUntilClosed()
        }
        #expect(processGone(pid, within: 3))
    }

    @Test("a shell that ignores SIGHUP is killed 2 s after ShellClose")
    func stubbornShell() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        let pid = try shell.pid(id)
        try shell.type(id, "trap '' HUP; echo trap''ped\n")
        try shell.expect(id, "trapped\r\n")
        let start = Date()
        try shell.connection.closeShell(token: shell.session.token, shell: id)
        try shell.read(timeout: 6) { shell.exits[id] != nil }
        #expect(shell.exits[id] == 137 && Date().timeIntervalSince(start) >= 1.9)
        #expect(processGone(pid, within: 1))
    }

    @Test("20 shells on one connection, input interleaved, each with its own output")
    func manyShells() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-shells", "20"])
        let shell = ShellDriver(try fixture.login(agent))
        let ids = try (0..<20).map { _ in try shell.open() }
        #expect(Set(ids).count == 20)
        for round in 0..<3 {
            for (index, id) in ids.enumerated() { try shell.type(id, "echo r\(round)-s\(index)-$((\(index)*7))\n") }
        }
        for (index, id) in ids.enumerated() {
            try shell.expect(id, "r2-s\(index)-\(index * 7)\r\n")
            for other in ids.indices where other != index { #expect(!shell.text(id).contains("-s\(other)-")) }
        }
        #expect(throws: ClientError.remote(code: .busy, errno: 0, message: "all 20 shells are in use")) { _ = try shell.open() }
    }

    @Test("keystrokes the PTY cannot take yet wait, none is lost: 1 MiB typed into a raw terminal")
    func inputBackPressure() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let shell = ShellDriver(try fixture.login(agent))
        let id = try shell.open()
        let size = 1 << 20
        try shell.type(id, "stty raw -echo; head -c \(size) | cksum; stty sane\n")
        usleep(300_000)
        var data = [UInt8](repeating: 0, count: size)
        for index in data.indices { data[index] = UInt8(0x20 + (index * 31 + index / 4096) % 90) }
        for chunk in stride(from: 0, to: size, by: 64 << 10) {
            try shell.connection.shellInput(token: shell.session.token, shell: id, Array(data[chunk..<min(chunk + (64 << 10), size)]))
        }
        let expected = try localChecksum(data)
        try shell.expect(id, expected, timeout: 60)
        #expect(shell.errors.isEmpty)
        #expect(try shell.connection.ping([1]) == [1])
    }

    @Test("rules: size limits, unknown and foreign shells, ids never reused, one-way acks and errors")
    func rules() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-shells", "1"])
        let session = try fixture.login(agent)
        let shell = ShellDriver(session)
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Rows: must be from 0 to 10000, not -1")) {
            _ = try shell.open(rows: -1)
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Cols: must be from 0 to 10000, not 10001")) {
            _ = try shell.open(cols: 10_001)
        }
        let first = try shell.open()
        // Another session on the same connection may not use it.
        let other = try session.connection.authenticate(user: "runner", password: "run").token.string
        #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "shell \(first) belongs to another session")) {
            let _: Empty = try session.connection.call(service: ServiceID.dbg, op: Dbg.Op.shellResize.rawValue,
                Dbg.ShellResizeRequest(token: WireBytes(other), sessionID: first, rows: 10, cols: 10))
        }
        // A non-zero id gets an empty acknowledgement.
        let _: Empty = try session.connection.call(service: ServiceID.dbg, op: Dbg.Op.shellResize.rawValue,
            Dbg.ShellResizeRequest(token: WireBytes(session.token), sessionID: first, rows: 10, cols: 10))
        // A one-way failure comes back with id 0 and the op.
        try session.connection.shellInput(token: session.token, shell: 999, [0x61])
        try shell.read { !shell.errors.isEmpty }
        #expect(shell.errors[0].header.id == 0 && shell.errors[0].header.op == Dbg.Op.shellInput.rawValue)
        #expect(session.connection.expectError(shell.errors[0], .notFound) == "no shell with SessionID 999")
        try shell.type(first, "exit\n")
        try shell.read { shell.exits[first] != nil }
        let second = try shell.open()
        #expect(second != first)
    }
}

/// `cksum` of bytes, computed by the local cksum program.
func localChecksum(_ data: [UInt8]) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-cksum-\(UUID().uuidString.prefix(8))")
    try Data(data).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let child = try ChildProcess(["sh", "-c", "cksum < '\(file.path)'"])
    let text = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
    _ = child.waitForExit(timeout: 10)
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}
