import DbgClient
import Foundation
import Testing

/// What init scripts and service managers rely on: --background, --pidfile, --log-file
/// with rotation, and systemd's readiness datagram.
@Suite("Under an init system")
struct InitSystemTests {
    /// A folder of its own per test, for the pidfile and the log.
    private static func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-init-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// Runs dbgd in the foreground until it exits: its status and what it printed.
    private static func run(_ arguments: [String]) throws -> (status: Int32?, lines: [String]) {
        let agent = try AgentProcess(arguments, ready: false)
        let status = agent.waitForExit(timeout: 30)
        return (status, agent.log.filter { !$0.isEmpty })
    }

    private static func pid(in file: URL) -> pid_t? {
        (try? String(contentsOf: file, encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .newlines)) }
    }

    private static func isAlive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 }

    /// Waits (bounded) until `pid` is gone.
    private static func waitUntilGone(_ pid: pid_t, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while isAlive(pid), Date() < deadline { usleep(20_000) }
        return !isAlive(pid)
    }

    /// The TCP address the agent logged.
    private static func listening(in log: URL) throws -> AgentTarget {
        let text = try String(contentsOf: log, encoding: .utf8)
        guard let line = text.split(separator: "\n").last(where: { $0.contains("listening on ") }),
              let range = line.range(of: "listening on ") else { throw AgentProcessError("no address in the log:\n\(text)") }
        return try AgentTarget.parse(String(line[range.upperBound...]))
    }

    @Test("--background exits 0 once the agent serves; a second start is refused and names the first; SIGTERM removes the pidfile")
    func background() throws {
        let folder = try Self.scratch()
        let pidFile = folder.appendingPathComponent("dbgd.pid")
        let log = folder.appendingPathComponent("dbgd.log")
        let common = ["--background", "--pidfile", pidFile.path, "--log-file", log.path]
        let started = try Self.run(common + ["--listen", "127.0.0.1:0"])
        #expect(started.status == 0 && started.lines.isEmpty, "\(started)")
        let pid = try #require(Self.pid(in: pidFile))
        defer { kill(pid, SIGKILL) }
        #expect(Self.isAlive(pid))
        if !AgentProcess.isEmulated {
            #expect((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "dbgd\n")
        }
        // Serving as soon as the foreground half has exited.
        let address = try Self.listening(in: log)
        let connection = try AgentConnection(address, timeoutSeconds: 10)
        #expect(try connection.ping([1]) == [1])

        let again = try Self.run(common + ["--listen", "127.0.0.1:0"])
        #expect(again.status == 1 && again.lines == ["dbgd: dbgd is already running (pid \(pid)) with --pidfile \(pidFile.path)"],
                "\(again)")
        #expect(Self.pid(in: pidFile) == pid, "the refused start leaves the pidfile alone")

        let otherPidFile = folder.appendingPathComponent("other.pid")
        let portTaken = try Self.run(["--background", "--pidfile", otherPidFile.path, "--log-file", log.path,
                                      "--listen", address.description])
        #expect(portTaken.status == 1 && portTaken.lines.count == 1 && portTaken.lines[0].contains("cannot listen on") && portTaken.lines[0].contains("in use"),
                "\(portTaken)")
        #expect(!FileManager.default.fileExists(atPath: otherPidFile.path), "a failed start removes its own pidfile")

        let badFlag = try Self.run(common + ["--max-connections", "0"])
        #expect(badFlag.status == 2 && badFlag.lines.count == 1, "\(badFlag)")

        kill(pid, SIGTERM)
        #expect(Self.waitUntilGone(pid))
        #expect(!FileManager.default.fileExists(atPath: pidFile.path))
        let logText = try String(contentsOf: log, encoding: .utf8)
        #expect(logText.contains(" ready\n") && logText.contains("SIGTERM: shutting down"))
    }

    @Test("after kill -9 the pidfile left behind does not stop the next start, which records its own pid")
    func staleLockAfterKill() throws {
        let folder = try Self.scratch()
        let pidFile = folder.appendingPathComponent("dbgd.pid")
        let log = folder.appendingPathComponent("dbgd.log")
        let arguments = ["--background", "--pidfile", pidFile.path, "--log-file", log.path, "--listen", "127.0.0.1:0"]
        #expect(try Self.run(arguments).status == 0)
        let first = try #require(Self.pid(in: pidFile))
        kill(first, SIGKILL)
        #expect(Self.waitUntilGone(first))
        #expect(FileManager.default.fileExists(atPath: pidFile.path))
        let restarted = try Self.run(arguments)
        #expect(restarted.status == 0, "\(restarted)")
        let second = try #require(Self.pid(in: pidFile))
        defer { kill(second, SIGKILL) }
        #expect(second != first && Self.isAlive(second))
    }

    @Test("--log-file is rotated to PATH.1 at --log-size, and the log goes on in a new PATH")
    func logRotation() throws {
        let folder = try Self.scratch()
        let log = folder.appendingPathComponent("dbgd.log")
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--log-file", log.path, "--log-size", "16K", "--verbose"],
                                     ready: false)
        defer { agent.stop() }
        let deadline = Date(timeIntervalSinceNow: 30)
        while (try? Self.listening(in: log)) == nil, Date() < deadline { usleep(20_000) }
        let address = try Self.listening(in: log)
        // Each rejected connection logs two lines of about 80 bytes.
        for _ in 0..<400 {
            let connection = try AgentConnection(address, timeoutSeconds: 10)
            try connection.sendRaw(Array("not a frame, not at all!".utf8))
            _ = connection.framesUntilClosed()
        }
        let rotated = URL(fileURLWithPath: log.path + ".1")
        let size = { (url: URL) in (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? nil }
        #expect((size(rotated) ?? 0) >= 16 << 10 && (size(rotated) ?? 0) < (16 << 10) + 512)
        #expect((size(log) ?? .max) < 16 << 10)
        // A log moved away (logrotate) is started anew at the next rotation.
        try FileManager.default.removeItem(at: log)
        for _ in 0..<250 {
            let connection = try AgentConnection(address, timeoutSeconds: 10)
            try connection.sendRaw(Array("not a frame, not at all!".utf8))
            _ = connection.framesUntilClosed()
        }
        #expect(FileManager.default.fileExists(atPath: log.path), "a new log after the old one was moved away")
        agent.signal(SIGTERM)
        #expect(agent.waitForExit() == 0)
        // The last line is in PATH, or in PATH.1 when it was the one that filled PATH.
        let finalLog = [rotated, log].map { (try? String(contentsOf: $0, encoding: .utf8)) ?? "" }.joined()
        #expect(finalLog.hasSuffix("SIGTERM: shutting down\n"), "\(finalLog.suffix(600))")
    }

    @Test("systemd Type=notify: READY=1 once listening, STOPPING=1 at SIGTERM (an abstract NOTIFY_SOCKET too)",
          arguments: [false, true])
    func systemdNotify(abstract: Bool) throws {
        let folder = try Self.scratch()
        let path = abstract ? "@dbgd-notify-\(UUID().uuidString.prefix(8))" : folder.appendingPathComponent("notify").path
        let socket = try NotifySocket(path)
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"], environment: ["NOTIFY_SOCKET": path])
        #expect(socket.receive() == "READY=1")
        #expect(try agent.connect().ping([2]) == [2])
        agent.signal(SIGTERM)
        #expect(socket.receive() == "STOPPING=1")
        #expect(agent.waitForExit() == 0)
    }
}

/// The service manager's end of NOTIFY_SOCKET: a Unix datagram socket, bound to a path
/// or (with a leading "@") to a name in the abstract namespace.
private final class NotifySocket {
    let fd: Int32

    init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        if name.first == UInt8(ascii: "@") { name[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + name.count + (name.first == 0 ? 0 : 1))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw AgentProcessError("cannot bind \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The next datagram, or "" after 30 s.
    func receive() -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : ""
    }
}
