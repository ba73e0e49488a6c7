import DbgClient
import DbgWire

struct Ping: Command {
    static let spec = CommandSpec(
        name: "ping", abstract: "Measure the round trip to the agent.",
        options: [.option("count", "c", "N", "Number of pings (default 1)."),
                  .option("size", "s", "BYTES", "Bytes of data in each ping (default 0)."), .json("Print one JSON object per ping.")])

    let agent: AgentOptions
    let count: Int
    let size: Int
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        count = try arguments.int("count", 1, in: 1...1_000_000)
        size = try arguments.int("size", 0, in: 0...(1 << 24))
        json = arguments.flag("json")
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
                print(#"{"seq":\#(sequence),"bytes":\#(size),"ms":\#(Format.fixed(ms, 3))}"#)
            } else {
                print("pong from \(connection.target.description): seq=\(sequence) bytes=\(size) time=\(Format.fixed(ms, 3)) ms")
            }
        }
    }
}

struct Info: Command {
    static let spec = CommandSpec(name: "info", abstract: "Show the agent's version, services, features and limits.",
                                  options: [.json("Print a JSON object.")])

    let agent: AgentOptions
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        json = arguments.flag("json")
    }

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
        let features = hello.features.string.split(separator: " ")
        // The key clients pin for TLS (present when the agent serves TCP).
        if let key = features.first(where: { $0.hasPrefix("key=") }) {
            print("board key: \(key.dropFirst(4))")
        }
        // The HTTP API and web console (dbgd --http), where the agent serves them.
        if let http = features.first(where: { $0.hasPrefix("http=") }) {
            let addresses = http.dropFirst(5)
            print("http:      " + (addresses == "off" ? "off (dbgd --http ADDR:PORT serves the API and the web console)"
                : addresses.split(separator: ",").map { "http://\($0)/" }.joined(separator: " ")))
        }
        // Port forwarding (dbg forward, reverse, gdbserver): the streams it may have open.
        if let forward = features.first(where: { $0.hasPrefix("forward=") }) {
            let limit = forward.dropFirst(8)
            print("forward:   " + (limit == "off" ? "off (switched off, or not built)" : "up to \(limit) streams"))
        }
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
        case _ where scalar.value < 0x20: out += "\\u00" + Format.hex([UInt8(scalar.value)])
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
