import DbgClient
import DbgWire
import Testing

@Suite("Control service")
struct ControlServiceTests {
    @Test("Hello reports version, limits, services and features")
    func hello() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-frame", "256K"])
        let connection = try agent.connect()
        let hello = try connection.hello(client: "tests")
        #expect(hello.version == Control.protocolVersion)
        #expect(hello.maxFrame == 256 << 10)
        #expect(hello.agent.string.hasPrefix("dbgd 0.1.0 ("))
        #expect(hello.services == AgentProcess.services)
        #expect(hello.features.string.contains("max-connections=16"))
    }

    @Test("Ping echoes its data byte for byte, up to the frame limit")
    func pingEcho() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-frame", "64K"])
        let connection = try agent.connect()
        for size in [0, 1, 1000, 65536 - 4] {
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            #expect(try connection.ping(data) == data, "size \(size)")
        }
    }

    @Test("unknown services and ops are Unsupported and the connection stays open")
    func unsupported() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        for (service, op) in [(UInt32(0x99), UInt16(1)), (ServiceID.control, UInt16(77)), (ServiceID.dbg, UInt16(0x06ff)),
                              (ServiceID.distro, UInt16(0x02ff))] {
            try connection.sendRaw(frameBytes(service: service, op: op, id: 9, payload: []))
            let frame = try connection.receive()
            #expect(frame.header.id == 9 && frame.header.service == service && frame.header.op == op)
            _ = connection.expectError(frame, .unsupported)
        }
        #expect(try connection.ping([1]) == [1])
    }

    @Test("a malformed payload is BadRequest and the connection stays open")
    func badPayload() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        let cases: [([UInt8], String)] = [
            ([5, 0, 0, 0, 1], "Data: payload ends 4 bytes short"),  // says 5 bytes, has 1
            ([0, 0, 0, 0, 9], "1 byte after its last field"),  // one byte too many
            ([1, 0], "Data: payload ends 2 bytes short"),  // not even a length
        ]
        for (payload, word) in cases {
            try connection.sendRaw(frameBytes(op: Control.Op.ping.rawValue, id: 3, payload: payload))
            let message = connection.expectError(try connection.receive(), .badRequest)
            #expect(message.contains(word), "\(message)")
        }
        #expect(try connection.ping() == [])
    }

    @Test("a request with id 0 is one-way: no response, but failures still come back with id 0")
    func oneWay() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        try connection.sendRaw(pingFrame(id: 0, data: [1, 2]))
        try connection.sendRaw(frameBytes(op: Control.Op.ping.rawValue, id: 0, payload: [7]))
        try connection.sendRaw(pingFrame(id: 5))
        let failure = try connection.receive()
        #expect(failure.header.id == 0 && failure.header.op == Control.Op.ping.rawValue)
        _ = connection.expectError(failure, .badRequest)
        let answer = try connection.receive()
        #expect(answer.header.id == 5 && answer.header.kind == .response)
    }

    @Test("the agent never sends a frame larger than the client's Hello limit")
    func peerFrameLimit() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        let tooSmall = Control.HelloRequest(version: 1, maxFrame: 1023, client: "tiny")
        do {
            let _: Control.HelloResponse = try connection.call(service: ServiceID.control, op: Control.Op.hello.rawValue, tooSmall)
            Issue.record("a MaxFrame of 1023 was accepted")
        } catch {
            guard case .remote(let code, _, let message) = error else { throw error }
            #expect(code == .badRequest && message.contains("below the minimum of 1024"))
        }
        let hello = Control.HelloRequest(version: 1, maxFrame: 1024, client: "small")
        let _: Control.HelloResponse = try connection.call(service: ServiceID.control, op: Control.Op.hello.rawValue, hello)
        #expect(try connection.ping([UInt8](repeating: 1, count: 1020)).count == 1020)
        do {
            _ = try connection.ping([UInt8](repeating: 1, count: 1021))
            Issue.record("a 1025-byte response was sent to a client that accepts 1024")
        } catch {
            guard case .remote(let code, _, _) = error else { throw error }
            #expect(code == .tooLarge)
        }
        #expect(try connection.ping([2]) == [2])
    }
}
