import DbgClient
import Foundation

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

    /// The static firmware build (no PAM); the host build says "host" in its version.
    static let isFirmware: Bool = {
        let version = Process()
        let output = Pipe()
        let command = launcher + [binary, "--version"]
        version.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        version.arguments = command
        version.standardOutput = output
        guard (try? version.run()) != nil else { return false }
        version.waitUntilExit()
        return String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("firmware")
    }()

    let process = Process()
    private let lock = NSCondition()
    private var lines: [String] = []
    private var finished = false
    private(set) var tcpAddresses: [AgentTarget] = []
    private(set) var unixAddresses: [AgentTarget] = []

    /// Starts the agent and waits until it says it is ready.
    init(_ arguments: [String], environment: [String: String] = [:], ready: Bool = true) throws {
        let command = AgentProcess.launcher + [AgentProcess.binary]
        guard FileManager.default.isExecutableFile(atPath: AgentProcess.binary) else {
            throw AgentProcessError("dbgd not found at \(AgentProcess.binary); run `swift build` first or set DBGD_BIN")
        }
        process.executableURL = URL(fileURLWithPath: command[0].hasPrefix("/") ? command[0] : "/usr/bin/env")
        process.arguments = (command[0].hasPrefix("/") ? Array(command.dropFirst()) : command) + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = stderr
        try process.run()
        let reader = Thread { [self] in readLines(stderr.fileHandleForReading) }
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

    var tcp: AgentTarget { tcpAddresses[0] }

    /// `localAddress` (127.0.x.y) makes the connection come from another peer.
    func connect(_ target: AgentTarget? = nil, timeoutSeconds: Int = 30, localAddress: String? = nil) throws -> AgentConnection {
        try AgentConnection(target ?? tcp, timeoutSeconds: timeoutSeconds, localAddress: localAddress)
    }

    var log: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// Waits for a log line matching `predicate`; nil on timeout or exit.
    @discardableResult
    func waitForLine(timeout: TimeInterval, where predicate: (String) -> Bool) -> String? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let line = lines.first(where: predicate) { return line }
            if finished || !lock.wait(until: deadline) { return lines.first(where: predicate) }
        }
    }

    /// Waits until `count` log lines match.
    func waitForLines(_ count: Int, timeout: TimeInterval, where predicate: (String) -> Bool) -> Int {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            let seen = lines.filter(predicate).count
            if seen >= count || finished || !lock.wait(until: deadline) { return seen }
        }
    }

    /// Waits until the reader has seen the end of the agent's output.
    private func waitForEndOfLog(timeout: TimeInterval) {
        let deadline = Date(timeIntervalSinceNow: timeout)
        lock.lock()
        while !finished && lock.wait(until: deadline) {}
        lock.unlock()
    }

    /// Resident memory of the agent process in KiB (native runs only).
    func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the agent to exit and returns its status.
    func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { return nil }
        waitForEndOfLog(timeout: 2)
        return process.terminationStatus
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL) }
        }
    }

    private func readLines(_ handle: FileHandle) {
        var pending = Data()
        while true {
            let chunk = handle.availableData
            lock.lock()
            if chunk.isEmpty {
                if !pending.isEmpty { lines.append(String(decoding: pending, as: UTF8.self)) }
                finished = true
                lock.broadcast()
                lock.unlock()
                return
            }
            pending.append(chunk)
            while let newline = pending.firstIndex(of: 0x0a) {
                lines.append(String(decoding: pending[pending.startIndex..<newline], as: UTF8.self))
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
