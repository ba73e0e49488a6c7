import Foundation
import Testing

/// `dbg shell` (or another dbg command) driven the way a person uses it: on a real
/// pseudo-terminal.
struct LocalTerminalDriver {
    let child: ChildProcess
    private(set) var screen = ""

    /// `controlling`: the terminal becomes dbg's controlling terminal (through setsid -c), so
    /// that Ctrl-C typed on it is a SIGINT for dbg, as in a terminal emulator.
    init(_ dbg: DbgTool, _ arguments: [String] = ["shell"], controlling: Bool = false, rows: UInt16, cols: UInt16) throws {
        child = try ChildProcess((controlling ? ["setsid", "-c"] : []) + [DbgTool.binary] + arguments, environment: dbg.environment,
                                 terminal: (rows, cols))
    }

    var master: Int32 { child.output.fileDescriptor }

    func type(_ text: String) { child.input!.write(Data(text.utf8)) }

    /// Reads what dbg writes to the terminal until `text` shows (or 20 s pass).
    mutating func expect(_ text: String, timeout: TimeInterval = 20) throws {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !screen.contains(text) {
            guard Date() < deadline, try readSome(waitMs: 50) || child.isRunning else {
                throw AgentProcessError("'\(text)' never showed; the terminal shows: \(screen.suffix(400).debugDescription)")
            }
        }
    }

    /// Reads what is there; false at the end of output.
    mutating func readSome(waitMs: Int32) throws -> Bool {
        var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, waitMs) > 0 else { return true }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(master, &buffer, buffer.count)
        guard count > 0 else { return false }
        screen += String(decoding: buffer[0..<count], as: UTF8.self)
        return true
    }

    func resize(rows: UInt16, cols: UInt16) {
        var size = winsize(ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        child.signal(SIGWINCH)
    }

    /// Whether the terminal is in canonical (line-editing) mode.
    var isCanonical: Bool {
        var settings = termios()
        tcgetattr(master, &settings)
        return settings.c_lflag & tcflag_t(ICANON) != 0
    }
}

@Suite("dbg client: interactive shell", .needs("shells"))
struct ClientShellTests {
    @Test("on a terminal: raw mode, the size and its changes, Ctrl-C reaches the board, the exit status comes back")
    func terminal() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        var terminal = try LocalTerminalDriver(DbgTool(agent), rows: 33, cols: 101)
        defer { terminal.child.signal(SIGKILL) }
        terminal.type("stty size; echo $((6*7))X\n")
        try terminal.expect("33 101\r\n42X")
        #expect(!terminal.isCanonical)

        terminal.resize(rows: 40, cols: 120)
        // The resize travels on its own; ask until the remote shell sees it.
        let deadline = Date(timeIntervalSinceNow: 20)
        while !terminal.screen.contains("40 120"), Date() < deadline {
            terminal.type("stty size\n")
            _ = try terminal.readSome(waitMs: 200)
        }
        #expect(terminal.screen.contains("40 120\r\n"))

        terminal.type("sleep 30; echo not-interrupted\n")
        usleep(300_000)
        terminal.type("\u{03}echo after-$((1+1))\n")
        try terminal.expect("after-2")
        #expect(!terminal.screen.contains("\nnot-interrupted"))
        #expect(terminal.child.isRunning)

        terminal.type("exit 9\n")
        #expect(terminal.child.waitForExit(timeout: 20) == 9)
        #expect(terminal.isCanonical)
    }

    @Test("a signal that ends dbg puts the terminal back first")
    func signalRestoresTerminal() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        var terminal = try LocalTerminalDriver(DbgTool(agent), rows: 24, cols: 80)
        defer { terminal.child.signal(SIGKILL) }
        terminal.type("echo ready-$((3*3))\n")
        try terminal.expect("ready-9")
        #expect(!terminal.isCanonical)
        terminal.child.signal(SIGTERM)
        #expect(terminal.child.waitForExit(timeout: 20) == 128 + SIGTERM)
        #expect(terminal.isCanonical)
    }

    @Test("with stdin a pipe: the input is typed in, then end of file; dbg exits with the shell's status",
          .needs("streams"))
    func piped() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let child = try ChildProcess(["sh", "-c", "printf 'echo piped-$((2*3))\\nexit 5\\n' | '\(DbgTool.binary)' shell"],
                                     environment: dbg.environment)
        let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(child.waitForExit(timeout: 20) == 5)
        #expect(output.contains("piped-6"))
        // End of input alone also ends the shell (status 0).
        let eof = try ChildProcess(["sh", "-c", "echo true | '\(DbgTool.binary)' shell"], environment: dbg.environment)
        _ = eof.output.readDataToEndOfFile()
        #expect(eof.waitForExit(timeout: 20) == 0)
    }
}
