import ArgumentParser
import DbgClient
import DbgWire
import Foundation

struct Ping: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the round trip to the agent.")

    @OptionGroup var agent: AgentOptions

    @Option(name: .shortAndLong, help: "Number of pings.")
    var count: Int = 1

    @Option(name: .shortAndLong, help: "Bytes of data in each ping.")
    var size: Int = 0

    @Flag(help: "Print one JSON object per ping.")
    var json = false

    func validate() throws {
        guard count > 0, size >= 0 else { throw ValidationError("--count must be positive and --size not negative") }
    }

    func run() throws {
        let connection = try agent.connect()
        let data = (0..<size).map { UInt8(truncatingIfNeeded: $0) }
        for sequence in 1...count {
            let start = ContinuousClock.now
            let echo = try attempt("ping") { try connection.ping(data) }
            let elapsed = ContinuousClock.now - start
            guard echo == data else {
                Terminal.error("dbg: ping \(sequence): the echo differs from what was sent")
                throw ExitCode(ExitStatus.failure)
            }
            let ms = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000
            if json {
                print(#"{"seq":\#(sequence),"bytes":\#(size),"ms":\#(String(format: "%.3f", ms))}"#)
            } else {
                print("pong from \(connection.target.description): seq=\(sequence) bytes=\(size) time=\(String(format: "%.3f", ms)) ms")
            }
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the agent's version, services, features and limits.")

    @OptionGroup var agent: AgentOptions

    @Flag(help: "Print a JSON object.")
    var json = false

    func run() throws {
        let connection = try agent.connect()
        let hello = try attempt("info") { try connection.hello(client: "dbg") }
        if json {
            let services = hello.services.map(String.init).joined(separator: ",")
            print(#"{"agent":\#(jsonString(hello.agent.string)),"address":\#(jsonString(connection.target.description)),"#
                + #""protocol":\#(hello.version),"maxFrame":\#(hello.maxFrame),"services":[\#(services)],"#
                + #""features":\#(jsonString(hello.features.string))}"#)
            return
        }
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

/// A JSON string literal.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
