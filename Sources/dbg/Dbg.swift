import ArgumentParser
import DbgClient
import DbgWire
import Foundation

@main
struct Dbg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbg",
        abstract: "Talk to a dbgd agent on a board.",
        subcommands: [Ping.self, Info.self]
    )
}

struct TargetOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .long],
            help: "Agent address: HOST[:PORT], [IPv6]:PORT or unix:/PATH (env DBG_HOST; default 127.0.0.1:5037).")
    var host: String?

    @Option(help: "Seconds to wait for the agent before giving up.")
    var connectTimeout: Int = 10

    func connect() throws -> AgentConnection {
        let text = host ?? ProcessInfo.processInfo.environment["DBG_HOST"] ?? "127.0.0.1:\(AgentTarget.defaultPort)"
        return try exitOnError { () throws(ClientError) in
            try AgentConnection(AgentTarget.parse(text), timeoutSeconds: connectTimeout)
        }
    }
}

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the round trip to the agent.")

    @OptionGroup var target: TargetOptions

    @Option(name: .shortAndLong, help: "Number of pings.")
    var count: Int = 1

    @Option(name: .shortAndLong, help: "Bytes of data in each ping.")
    var size: Int = 0

    func run() throws {
        guard count > 0, size >= 0 else { throw ValidationError("--count must be positive and --size not negative") }
        let connection = try target.connect()
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
        for sequence in 1...count {
            let start = ContinuousClock.now
            let echo = try exitOnError { () throws(ClientError) in try connection.ping(data) }
            let elapsed = ContinuousClock.now - start
            guard echo == data else { throw CleanExit.message("dbg: ping \(sequence): the echo differs from what was sent") }
            let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
            print("pong from \(connection.target.description): seq=\(sequence) bytes=\(size) time=\(String(format: "%.3f", ms)) ms")
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the agent's version, services and limits.")

    @OptionGroup var target: TargetOptions

    func run() throws {
        let connection = try target.connect()
        let hello = try exitOnError { () throws(ClientError) in try connection.hello(client: "dbg") }
        print("agent:     \(hello.agent.string)")
        print("address:   \(connection.target.description)")
        print("protocol:  \(hello.version)")
        print("max frame: \(hello.maxFrame) bytes")
        print("services:  \(hello.services.map(serviceName).joined(separator: ", "))")
        print("features:  \(hello.features.string)")
    }

    private func serviceName(_ id: UInt32) -> String {
        switch id {
        case ServiceID.control: return "control (0x0)"
        case ServiceID.dbg: return "dbg (0x60)"
        case ServiceID.distro: return "distro (0x70)"
        default: return "0x" + String(id, radix: 16)
        }
    }
}

/// Turns a client error into one readable line on stderr and exit status 1.
func exitOnError<T>(_ body: () throws(ClientError) -> T) throws -> T {
    do throws(ClientError) {
        return try body()
    } catch {
        FileHandle.standardError.write(Data("dbg: \(error.message)\n".utf8))
        throw ExitCode(1)
    }
}
