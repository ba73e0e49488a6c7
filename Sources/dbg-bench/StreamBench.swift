import ArgumentParser
import DbgClient
import DbgWire
import Foundation

/// A streaming process measured at the protocol: what the agent adds, without a dbg
/// process around it.
struct StreamBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "A streaming process: 1-byte stdin echo latency (cat), stdout and stdin throughput."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "Bytes to echo one at a time.")
    var keystrokes: Int = 1000

    @Option(help: "Megabytes through stdout, then through stdin.")
    var megabytes: Int = 1024

    func run() throws {
        let connection = try AgentConnection(try agent.target())
        let token = try connection.authenticate(user: login.user, password: login.password).token.string
        var process = try RemoteStream(connection, token, argv: ["cat"])
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        var next = 0
        let echo = try Timings(keystrokes, warmUp: 20) {
            let key = letters[next % letters.count]
            next += 1
            try process.send([key])
            while try !process.nextOutput().contains(key) {}
        }
        print("stream_echo: median \(String(format: "%.3f", echo.median)) ms, p99 \(String(format: "%.3f", echo.p99)) ms "
            + "(\(keystrokes) bytes through cat, one at a time)")
        try process.finish()

        let bytes = megabytes << 20
        var producer = try RemoteStream(connection, token, argv: ["head", "-c", String(bytes), "/dev/zero"])
        let start = DispatchTime.now().uptimeNanoseconds
        var received = 0
        while let data = try producer.nextOutputOrExit() { received += data.count }
        print("stream_stdout: \(rate(received, since: start)) (\(megabytes) MiB of head -c /dev/zero, protocol only)")

        var consumer = try RemoteStream(connection, token, argv: ["sh", "-c", "cat >/dev/null"])
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        let inputStart = DispatchTime.now().uptimeNanoseconds
        var sent = 0
        while sent < bytes {
            let count = min(chunk.count, bytes - sent)
            try consumer.send(count == chunk.count ? chunk : Array(chunk[0..<count]))
            sent += count
        }
        try consumer.finish()
        print("stream_stdin: \(rate(sent, since: inputStart)) (\(megabytes) MiB into cat >/dev/null, protocol only)")
    }

    private func rate(_ bytes: Int, since start: UInt64) -> String {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return String(format: "%.0f MB/s", Double(bytes) / seconds / 1e6)
    }
}

/// One started process: input within the credited window, output and exit events.
private struct RemoteStream {
    let connection: AgentConnection
    let token: String
    let id: UInt32
    var credit: Int
    var exited = false

    init(_ connection: AgentConnection, _ token: String, argv: [String]) throws {
        self.connection = connection
        self.token = token
        var spec = AgentConnection.ProcessSpec()
        spec.argv = argv.map { Array($0.utf8) }
        let started = try connection.startProcess(token: token, spec)
        id = started.processID
        credit = Int(started.inputWindow)
    }

    /// Sends `bytes`, waiting for credit first when the window is full.
    mutating func send(_ bytes: [UInt8]) throws {
        while credit < bytes.count { _ = try nextEvent() }
        try connection.processInput(token: token, process: id, bytes)
        credit -= bytes.count
    }

    mutating func nextOutput() throws -> [UInt8] {
        while true {
            if let data = try nextEvent() { return data }
            if exited { throw ValidationError("the process exited") }
        }
    }

    /// Output, or nil once the process has exited.
    mutating func nextOutputOrExit() throws -> [UInt8]? {
        while !exited {
            if let data = try nextEvent() { return data }
        }
        return nil
    }

    /// Ends the input and waits for the exit.
    mutating func finish() throws {
        try connection.closeProcessInput(token: token, process: id)
        while !exited { _ = try nextEvent() }
    }

    /// One frame: stdout or stderr data is returned, credits and the exit noted.
    private mutating func nextEvent() throws -> [UInt8]? {
        let frame = try connection.receive()
        if let error = try frame.remoteError() { throw error }
        switch Dbg.Event(rawValue: frame.header.op) {
        case .processStdout, .processStderr:
            return try frame.decode(ProcessData.self).data.bytes
        case .processInputCredit:
            credit += Int(try frame.decode(ProcessCredit.self).bytes)
        case .processExit:
            exited = true
        default:
            break
        }
        return nil
    }
}
