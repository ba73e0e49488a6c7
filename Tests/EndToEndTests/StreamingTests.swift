import DbgClient
import DbgWire
import Foundation
import Testing

/// A streaming process as a test drives it: input within the window, events sorted per
/// ProcessID.
final class ProcessDriver {
    let session: LoggedIn
    private(set) var stdout: [UInt32: [UInt8]] = [:]
    private(set) var stderr: [UInt32: [UInt8]] = [:]
    private(set) var exits: [UInt32: ProcessExitEvent] = [:]
    private(set) var credit: [UInt32: Int] = [:]
    private(set) var errors: [ClientError] = []

    init(_ session: LoggedIn) { self.session = session }

    var connection: AgentConnection { session.connection }

    func start(argv: [String] = [], command: String = "", env: [String] = [], terminal: (Int64, Int64)? = nil,
               timeout: Int32 = 0) throws -> UInt32 {
        var spec = AgentConnection.ProcessSpec()
        spec.argv = argv.map { Array($0.utf8) }
        spec.command = Array(command.utf8)
        spec.environment = env.map { Array($0.utf8) }
        spec.terminal = terminal
        spec.timeoutSeconds = timeout
        let started = try connection.startProcess(token: session.token, spec)
        credit[started.processID] = Int(started.inputWindow)
        return started.processID
    }

    /// Sends all of `bytes`, waiting for credits as the window requires.
    func write(_ process: UInt32, _ bytes: [UInt8], chunk: Int = 64 << 10) throws {
        var sent = 0
        while sent < bytes.count {
            try read { (self.credit[process] ?? 0) > 0 || self.exits[process] != nil }
            guard exits[process] == nil else { return }
            let count = min(chunk, bytes.count - sent, credit[process]!)
            try connection.processInput(token: session.token, process: process, Array(bytes[sent..<(sent + count)]))
            credit[process]! -= count
            sent += count
        }
    }

    func closeInput(_ process: UInt32) throws { try connection.closeProcessInput(token: session.token, process: process) }

    func signal(_ process: UInt32, _ number: Int32) throws {
        try connection.signalProcess(token: session.token, process: process, signal: number)
    }

    /// A Ping answered: the agent has handled every frame sent before it, and its answers
    /// to them (credits included) have been read.
    func barrier() throws { try connection.barrier(handle) }

    func out(_ process: UInt32) -> String { String(decoding: stdout[process] ?? [], as: UTF8.self) }
    func err(_ process: UInt32) -> String { String(decoding: stderr[process] ?? [], as: UTF8.self) }

    /// Reads events until `done` holds (or the time runs out).
    func read(timeout: TimeInterval = 60, until done: () -> Bool) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !done() {
            guard Date() < deadline else { throw AgentProcessError("timed out; stdout so far: \(stdout.mapValues { $0.count })") }
            do {
                handle(try connection.receive())
            } catch {
                throw AgentProcessError("\(error); stdout so far: \(stdout.mapValues { String(decoding: $0.suffix(200), as: UTF8.self) })")
            }
        }
    }

    /// Runs until `process` exits; returns its exit event.
    @discardableResult
    func wait(_ process: UInt32, timeout: TimeInterval = 60) throws -> ProcessExitEvent {
        try read(timeout: timeout) { exits[process] != nil }
        return exits[process]!
    }

    func handle(_ frame: ReceivedFrame) {
        guard frame.header.kind == .event else {
            if let error = try? frame.remoteError() { errors.append(error) }
            return
        }
        switch Dbg.Event(rawValue: frame.header.op) {
        case .processStdout:
            if let data = try? frame.decode(ProcessData.self) { stdout[data.processID, default: []] += data.data.bytes }
        case .processStderr:
            if let data = try? frame.decode(ProcessData.self) { stderr[data.processID, default: []] += data.data.bytes }
        case .processInputCredit:
            if let given = try? frame.decode(ProcessCredit.self) { credit[given.processID, default: 0] += Int(given.bytes) }
        case .processExit:
            if let exit = try? frame.decode(ProcessExitEvent.self) { exits[exit.processID] = exit }
        default:
            break
        }
    }
}

/// Bytes that are not all alike: a position-dependent pattern, with every byte value.
func patternBytes(_ count: Int, seed: UInt32 = 1) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 1_103_515_245 &+ 12_345
        return UInt8(truncatingIfNeeded: state >> 16)
    }
}

/// SHA-256, hex, by the system's sha256sum (an implementation apart from the agent's).
func sha256Hex(_ bytes: [UInt8]) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-hash-\(UUID().uuidString.prefix(8))")
    try Data(bytes).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let child = try ChildProcess(["sha256sum", file.path])
    let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
    _ = child.waitForExit(timeout: 60)
    return String(output.prefix(64))
}

@Suite("Streaming processes", .needs("streams"))
struct StreamingTests {
    @Test("stdout and stderr stream apart and byte for byte, far beyond --max-output; exit status and signals")
    func output() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent(["--max-output", "1K"])
        let driver = ProcessDriver(try fixture.login(agent))
        let mixed = try driver.start(command: "head -c 3000000 /dev/zero; printf 'e\\000r\\377' >&2; printf 'o\\001'; exit 7")
        let exit = try driver.wait(mixed)
        #expect(exit.exitCode == 7 && exit.signal == 0 && !exit.coreDumped && !exit.timedOut)
        #expect(driver.stdout[mixed] == [UInt8](repeating: 0, count: 3_000_000) + [UInt8(ascii: "o"), 1])
        #expect(driver.stderr[mixed] == [UInt8(ascii: "e"), 0, UInt8(ascii: "r"), 255])
        let words = try driver.start(argv: ["printf", "%s|", "a b", "it's", "$HOME", "*", ""])
        try driver.wait(words)
        #expect(driver.out(words) == "a b|it's|$HOME|*||")
        let killed = try driver.start(argv: ["sleep", "100"])
        try driver.signal(killed, SIGTERM)
        let ended = try driver.wait(killed)
        #expect(ended.exitCode == 128 + Int64(SIGTERM) && ended.signal == SIGTERM)
        let env = try driver.start(argv: ["sh", "-c", "echo $FOO:$HOME"], env: ["FOO=b a r", "HOME=/elsewhere"])
        try driver.wait(env)
        #expect(driver.out(env) == "b a r:/elsewhere\n")
        #expect(driver.errors.isEmpty)
    }

    @Test("stdin: 64 MiB through sha256sum within the window; CloseInput is end of file")
    func input() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = ProcessDriver(try fixture.login(agent))
        let data = patternBytes(AgentProcess.isEmulated ? 8 << 20 : 64 << 20)
        let hasher = try driver.start(argv: ["sha256sum"])
        try driver.write(hasher, data)
        try driver.closeInput(hasher)
        #expect(try driver.wait(hasher).exitCode == 0)
        #expect(driver.out(hasher).prefix(64) == Substring(try sha256Hex(data)))
        // It outlives its input by a second, so "late" reaches a live process: one-way
        // input to a process that has ended is dropped without a word (nobody waits).
        let echo = try driver.start(argv: ["sh", "-c", "cat; sleep 1"])
        try driver.write(echo, Array("hello\n".utf8))
        try driver.closeInput(echo)
        try driver.write(echo, Array("late".utf8))  // after CloseInput: refused
        try driver.wait(echo)
        try driver.barrier()  // the answer to "late" may follow the exit event
        #expect(driver.out(echo) == "hello\n")
        #expect(driver.errors.map(\.description).contains { $0.contains("had its ProcessCloseInput") })
        // A process that stops reading and closes its stdin: more input is dropped, credited,
        // and no error (yes | head -1).
        let reader = try driver.start(argv: ["sh", "-c", "head -c 1 >/dev/null; exec 0<&-; echo closed; sleep 1"])
        try driver.write(reader, [1])
        try driver.read { driver.out(reader) == "closed\n" }
        let errorsBefore = driver.errors.count
        try driver.write(reader, patternBytes(1 << 20))
        #expect(try driver.wait(reader).exitCode == 0)
        #expect(driver.errors.count == errorsBefore)
    }

    @Test("input beyond the window is refused, not buffered; a process that reads no input still takes signals")
    func window() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = ProcessDriver(try fixture.login(agent))
        let sleeper = try driver.start(argv: ["sleep", "100"])
        let window = driver.credit[sleeper]!
        // Fill the pipe and then the window: credits stop once nothing is read any more.
        try driver.write(sleeper, [UInt8](repeating: 7, count: window))
        try driver.barrier()
        for _ in 0..<20 where driver.credit[sleeper]! > 0 {
            try driver.write(sleeper, [UInt8](repeating: 7, count: driver.credit[sleeper]!))
            try driver.barrier()
        }
        #expect(driver.credit[sleeper] == 0)
        try driver.connection.processInput(token: driver.session.token, process: sleeper, [1])
        try driver.read { !driver.errors.isEmpty }
        #expect(driver.errors.first?.description.contains("exceed the input window") == true)
        let rss = agent.residentKiB()
        try driver.signal(sleeper, SIGKILL)
        let exit = try driver.wait(sleeper)
        #expect(exit.signal == SIGKILL)
        if !AgentProcess.isEmulated { #expect(rss < 16 << 10, "the agent holds at most the window per process") }
    }

    @Test("a terminal: isatty, TERM, the size asked for, resize; Ctrl-C typed interrupts")
    func terminal() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = ProcessDriver(try fixture.login(agent))
        let shell = try driver.start(command: "test -t 0 && test -t 1 && echo tty $TERM; stty size; read line; stty size; sleep 100",
                                     terminal: (30, 100))
        try driver.read { driver.out(shell).contains("30 100") }
        try driver.connection.resizeProcess(token: driver.session.token, process: shell, rows: 40, cols: 120)
        try driver.write(shell, Array("go\n".utf8))
        try driver.read { driver.out(shell).contains("40 120") }
        #expect(driver.out(shell).contains("tty xterm-256color"))
        // Ctrl-C through the terminal. One typed between two commands may be taken by the
        // shell (dash defers it to the end of the next one), so it is typed until it works.
        for _ in 0..<20 where driver.exits[shell] == nil {
            let shown = driver.stdout[shell]?.count ?? 0
            try driver.write(shell, [3])
            try driver.read { (driver.stdout[shell]?.count ?? 0) > shown || driver.exits[shell] != nil }  // its echo
            try driver.connection.withAnswerTimeout(seconds: 1) { () in _ = try? driver.read(timeout: 1) { driver.exits[shell] != nil } }
        }
        let exit = try driver.wait(shell)
        #expect(exit.signal == SIGINT)
        // Without a terminal, a resize is refused.
        let plain = try driver.start(argv: ["sleep", "1"])
        try driver.connection.resizeProcess(token: driver.session.token, process: plain, rows: 10, cols: 10)
        try driver.read { !driver.errors.isEmpty }
        #expect(driver.errors.first?.description.contains("has no terminal") == true)
    }

    @Test("TimeoutSec: SIGTERM, then SIGKILL for a process that ignores it; TimedOut is set")
    func timeout() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let driver = ProcessDriver(try fixture.login(agent))
        let stubborn = try driver.start(command: "trap '' TERM; echo ready; sleep 100", timeout: 1)
        let started = Date()
        let exit = try driver.wait(stubborn, timeout: 20)
        #expect(exit.timedOut && exit.signal == SIGKILL && driver.out(stubborn) == "ready\n")
        #expect(Date().timeIntervalSince(started) >= 2.5, "SIGKILL comes 2 s after SIGTERM")
    }

    @Test("bad requests: forms, another session's process, unknown ids, signals out of range")
    func rules() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let driver = ProcessDriver(session)
        func refusal(_ spec: AgentConnection.ProcessSpec) -> String {
            do {
                _ = try session.connection.startProcess(token: session.token, spec)
                return "started"
            } catch {
                return error.description
            }
        }
        var spec = AgentConnection.ProcessSpec()
        #expect(refusal(spec).contains("Command: empty, and no Argv"))
        spec.argv = [Array("true".utf8)]
        spec.command = Array("true".utf8)
        #expect(refusal(spec).contains("Command: must be empty when Argv is given"))
        spec.command = []
        spec.argv = [Array("a\u{0}b".utf8)]
        #expect(refusal(spec).contains("Argv: word 1 contains a NUL byte"))
        spec.argv = [Array("no-such-program-99".utf8)]
        #expect(refusal(spec).contains("command not found: no-such-program-99"))
        spec.argv = [Array("true".utf8)]
        spec.environment = [Array("=x".utf8)]
        #expect(refusal(spec).contains("Env: entry 1 is not NAME=value"))
        spec.environment = []
        spec.timeoutSeconds = -1
        #expect(refusal(spec).contains("TimeoutSec: must not be negative"))
        let mine = try driver.start(argv: ["sleep", "100"])
        try driver.signal(mine, 0)
        try driver.signal(mine, 65)
        try driver.signal(999_999, SIGTERM)
        let other = try fixture.login(agent)  // another connection and session
        try other.connection.signalProcess(token: other.token, process: mine, signal: SIGKILL)
        let otherError = try other.connection.receive().remoteError()
        #expect(otherError?.description.contains("process \(mine) belongs to another session") == true, "\(String(describing: otherError))")
        try driver.read { driver.errors.count >= 3 }
        let messages = driver.errors.map(\.description)
        #expect(messages[0].contains("Signal: must be from 1 to 64, not 0") && messages[1].contains("not 65"))
        #expect(messages[2].contains("no process with ProcessID 999999"))
        try driver.signal(mine, SIGKILL)
        #expect(try driver.wait(mine).signal == SIGKILL)
    }

    @Test("one-way requests that cross a process's exit are dropped: no error frame reaches the next call")
    func crossingTheExit() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let driver = ProcessDriver(session)
        let ended = try driver.start(argv: ["true"])
        #expect(try driver.wait(ended).exitCode == 0)
        // What a client sends while the exit is on its way to it.
        try driver.closeInput(ended)
        try driver.signal(ended, SIGTERM)
        try session.connection.processInput(token: session.token, process: ended, Array("late\n".utf8))
        try session.connection.resizeProcess(token: session.token, process: ended, rows: 24, cols: 80)
        // The next call gets its own answer, not an error for one of those.
        #expect(try session.connection.ping([7]) == [7])
        #expect(driver.errors.isEmpty, "\(driver.errors)")
        // An id never issued is still refused.
        try driver.signal(ended + 1000, SIGTERM)
        let refused = try session.connection.receive().remoteError()
        #expect(refused?.description.contains("no process with ProcessID \(ended + 1000)") == true)
    }

    @Test("a client that goes away takes its process group along: SIGHUP, SIGKILL 2 s later; 1,000 processes leak nothing")
    func disconnect() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let targetsBefore = settledDescriptors(of: agent.pid)
        let before = targetsBefore.count
        for _ in 0..<3 {
            let driver = ProcessDriver(try fixture.login(agent))
            let stubborn = try driver.start(command: "trap '' HUP; echo $$; exec sleep 100")
            try driver.read { driver.out(stubborn).hasSuffix("\n") }
            let pid = pid_t(driver.out(stubborn).dropLast())!
            _ = shutdown(try driver.connection.descriptor, Int32(SHUT_RDWR))
            #expect(!processGone(pid, within: 1.0), "it ignores SIGHUP")
            #expect(processGone(pid, within: 3.0), "SIGKILL follows")
        }
        // Many short ones, some cut off mid-way: no descriptor, child or zombie stays.
        let driver = ProcessDriver(try fixture.login(agent))
        for round in 0..<(AgentProcess.isEmulated ? 200 : 1000) {
            let process = try driver.start(argv: ["cat"])
            try driver.write(process, Array("x".utf8))
            if round % 2 == 0 {
                try driver.closeInput(process)
                try driver.wait(process)
            } else {
                try driver.signal(process, SIGKILL)
                try driver.wait(process)
            }
        }
        _ = shutdown(try driver.connection.descriptor, Int32(SHUT_RDWR))
        // Both ends are settled readings: an agent under qemu may hold a file for a moment
        // at any time (CI here saw one more at the very end).
        let deadline = Date(timeIntervalSinceNow: 10)
        var after = settledDescriptors(of: agent.pid)
        while after.count != before || !children(of: agent.pid).all.isEmpty, Date() < deadline {
            usleep(50_000)
            after = settledDescriptors(of: agent.pid)
        }
        #expect(after.count == before, "before: \(targetsBefore), after: \(after)")
        #expect(children(of: agent.pid).all.isEmpty)
    }
}
