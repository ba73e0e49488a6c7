import DbgClient
import DbgWire
import Foundation
import Testing

/// A dbgd started for one test: the binary under test (the SwiftPM build, or a static
/// firmware build named by DBGD_BIN, run through DBGD_LAUNCHER such as
/// qemu-aarch64-static), with its log lines collected as they arrive.
final class AgentProcess: @unchecked Sendable {
    /// The binary under test and the command that runs it.
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["DBGD_BIN"], !path.isEmpty { return path }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("dbgd").path
    }

    static var launcher: [String] {
        (ProcessInfo.processInfo.environment["DBGD_LAUNCHER"] ?? "").split(separator: " ").map(String.init)
    }

    /// Under an emulator the process's RSS is the emulator's, not the agent's.
    static var isEmulated: Bool { !launcher.isEmpty }

    /// What `dbgd --version` says: the line, the features built, the hash schemes.
    static let versionText = output(of: "--version")

    /// What `dbgd --help` says.
    static let help = output(of: "--help")

    private static func output(of flag: String) -> String {
        guard let run = try? ChildProcess(launcher + [binary, flag]) else { return "" }
        let text = String(decoding: run.output.readDataToEndOfFile(), as: UTF8.self)
        _ = run.waitForExit(timeout: 30)
        return text
    }

    /// The static firmware build (no PAM); the host build says "host" in its version.
    static var isFirmware: Bool { versionText.contains("firmware") }

    /// The optional features the binary was built with (a build profile, CMakeLists.txt).
    static let features: Set<String> = {
        let line = versionText.split(separator: "\n").first { $0.hasPrefix("features: ") } ?? ""
        return Set(line.dropFirst("features: ".count).split(separator: " ").map(String.init))
    }()

    /// The services Hello lists: the distro service's only when it is built.
    static var services: [UInt32] {
        [ServiceID.control, ServiceID.dbg] + (features.contains("distro") ? [ServiceID.distro] : [])
    }

    /// Whether crypt(3) in the binary verifies `scheme` ("md5crypt", as libxcrypt's
    /// hashes.conf names them): the host's libcrypt and a full firmware know them all.
    static func verifies(_ scheme: String) -> Bool {
        let line = versionText.split(separator: "\n").first { $0.hasPrefix("password hashes: ") } ?? ""
        let schemes = line.dropFirst("password hashes: ".count).split(separator: ",").map(String.init)
        return !isFirmware || schemes == ["all"] || schemes.contains(scheme)
    }

    private let child: ChildProcess
    /// Collected by a reader thread that holds only this, not the AgentProcess: the
    /// agent is stopped in deinit, which a thread holding `self` would never let run.
    private let output = AgentLog()
    private(set) var tcpAddresses: [AgentTarget] = []
    private(set) var unixAddresses: [AgentTarget] = []

    /// Starts the agent and waits until it says it is ready. `prefix` runs it through
    /// another command (setpriv, to start it as another user).
    init(_ arguments: [String], environment: [String: String] = [:], ready: Bool = true, prefix: [String] = []) throws {
        let command = prefix + AgentProcess.launcher + [AgentProcess.binary]
        // Each agent keeps its board key in a folder of the test's, not in /var/lib/dbgd.
        var arguments = arguments
        if !arguments.contains("--state-dir") {
            let state = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-state-\(UUID().uuidString.prefix(8))")
            arguments += ["--state-dir", state.path]
        }
        guard FileManager.default.isExecutableFile(atPath: AgentProcess.binary) else {
            throw AgentProcessError("dbgd not found at \(AgentProcess.binary); run `swift build` first or set DBGD_BIN")
        }
        child = try ChildProcess(command + arguments, environment: environment)
        let reader = Thread { [output, handle = child.output] in output.read(from: handle) }
        reader.start()
        if ready {
            guard let _ = waitForLine(timeout: 30, where: { $0.hasSuffix(" ready") }) else {
                stop()
                throw AgentProcessError("dbgd did not start; its log:\n" + log.joined(separator: "\n"))
            }
            for line in log {
                guard let range = line.range(of: "listening on ") else { continue }
                let address = String(line[range.upperBound...])
                if address.hasPrefix("unix:") {
                    unixAddresses.append(.unix(path: String(address.dropFirst(5))))
                } else {
                    tcpAddresses.append(try AgentTarget.parse(address))
                }
            }
        }
    }

    deinit { stop() }

    var pid: pid_t { child.pid }
    var isRunning: Bool { child.isRunning }

    var tcp: AgentTarget { tcpAddresses[0] }

    /// `localAddress` (127.0.x.y) makes the connection come from another peer.
    func connect(_ target: AgentTarget? = nil, timeoutSeconds: Int = 30, localAddress: String? = nil) throws -> AgentConnection {
        try AgentConnection(target ?? tcp, timeoutSeconds: timeoutSeconds, localAddress: localAddress)
    }

    var log: [String] { output.lines }

    /// Waits for a log line matching `predicate`; nil on timeout or exit.
    @discardableResult
    func waitForLine(timeout: TimeInterval, where predicate: (String) -> Bool) -> String? {
        output.waitForLine(timeout: timeout, where: predicate)
    }

    /// Waits until `count` log lines match.
    func waitForLines(_ count: Int, timeout: TimeInterval, where predicate: (String) -> Bool) -> Int {
        output.waitForLines(count, timeout: timeout, where: predicate)
    }

    /// Resident memory of the agent process in KiB (native runs only).
    func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    func signal(_ number: Int32) { child.signal(number) }

    /// Waits for the agent to exit and returns its status.
    func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        guard let status = child.waitForExit(timeout: timeout) else { return nil }
        output.waitForEnd(timeout: 2)
        return status
    }

    func stop() {
        guard child.isRunning else { return }
        child.signal(SIGTERM)
        if child.waitForExit(timeout: 5) == nil {
            child.signal(SIGKILL)
            _ = child.waitForExit(timeout: 5)
        }
    }
}

/// The lines an agent printed, as they arrive.
final class AgentLog: @unchecked Sendable {
    private let lock = NSCondition()
    private var collected: [String] = []
    private var finished = false

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return collected
    }

    func waitForLine(timeout: TimeInterval, where predicate: (String) -> Bool) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let line = collected.first(where: predicate) { return line }
            if finished || !lock.wait(until: deadline) { return collected.first(where: predicate) }
        }
    }

    func waitForLines(_ count: Int, timeout: TimeInterval, where predicate: (String) -> Bool) -> Int {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            let seen = collected.filter(predicate).count
            if seen >= count || finished || !lock.wait(until: deadline) { return seen }
        }
    }

    /// Waits until the agent's output has ended (it exited).
    func waitForEnd(timeout: TimeInterval) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        while !finished && lock.wait(until: deadline) {}
        lock.unlock()
    }

    /// Runs on the reader thread until end of file.
    func read(from handle: FileHandle) {
        var pending = Data()
        while true {
            let chunk = handle.availableData
            lock.lock()
            if chunk.isEmpty {
                if !pending.isEmpty { collected.append(String(decoding: pending, as: UTF8.self)) }
                finished = true
                lock.broadcast()
                lock.unlock()
                return
            }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0a) {
                collected.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
                pending.removeSubrange(pending.startIndex...newline)
            }
            lock.broadcast()
            lock.unlock()
        }
    }
}

struct AgentProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Trait where Self == ConditionTrait {
    /// Runs the suite or test only against a dbgd built with `feature`; otherwise it is
    /// skipped, and the run says why.
    static func needs(_ feature: String) -> Self {
        .enabled(if: AgentProcess.features.contains(feature), "this dbgd was built without \(feature) (its build profile)")
    }
}
