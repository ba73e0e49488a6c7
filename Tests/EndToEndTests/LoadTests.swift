import DbgClient
import DbgWire
import Foundation
import Testing

@Suite("Load and back-pressure")
struct LoadTests {
    @Test("10,000 pipelined pings on one connection are all answered, ids matching")
    func pipelinedPings() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        let count = 10_000
        let sender = Thread {
            for id in 1...count {
                try? connection.sendRaw(pingFrame(id: UInt32(id), data: [UInt8(truncatingIfNeeded: id)]))
            }
        }
        sender.start()
        var seen = Set<UInt32>()
        for _ in 0..<count {
            let frame = try connection.receive()
            #expect(frame.header.kind == .response)
            let echo = try frame.decode(Control.Ping.self)
            #expect(echo.data.bytes == [UInt8(truncatingIfNeeded: frame.header.id)])
            seen.insert(frame.header.id)
        }
        #expect(seen == Set(1...UInt32(count)))
    }

    @Test("200 concurrent connections doing 50 pings each; memory returns to its start-up level")
    func manyConnections() throws {
        // All from one address and none logged in: the per-address limit must allow that.
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-connections", "256", "--max-unauth-per-address", "256",
                                      "--verbose"])
        let startKiB = agent.residentKiB()
        let connectionCount = 200
        let connections = try (0..<connectionCount).map { _ in try agent.connect() }
        #expect(try connections.last!.ping() == [])  // all 200 are accepted and served
        // 4 threads, each driving 50 connections in lock step: all 200 stay busy at once.
        try concurrently(4) { thread in
            let mine = Array(connections[(thread * 50)..<(thread * 50 + 50)])
            for round in 1...50 {
                for (index, connection) in mine.enumerated() {
                    try connection.sendRaw(pingFrame(id: UInt32(round), data: [UInt8(index)]))
                }
                for (index, connection) in mine.enumerated() {
                    let frame = try connection.receive()
                    guard frame.header.id == UInt32(round), try frame.decode(Control.Ping.self).data.bytes == [UInt8(index)] else {
                        throw AgentProcessError("wrong answer on connection \(index), round \(round)")
                    }
                }
            }
        }
        let closed = { (line: String) in line.contains(" closed: ") }
        let before = agent.log.filter(closed).count
        for connection in connections { connection.shutdownSending() }
        let after = agent.waitForLines(before + connectionCount, timeout: 30, where: closed)
        #expect(after == before + connectionCount, "the agent closed \(after - before) of \(connectionCount) connections")
        if !AgentProcess.isEmulated {
            let endKiB = agent.residentKiB()
            #expect(endKiB * 10 <= startKiB * 11, "RSS went from \(startKiB) KiB to \(endKiB) KiB")
        }
        #expect(try agent.connect().ping([9]) == [9])
    }

    @Test("a connection sending one byte at a time gets correct answers")
    func byteAtATime() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        let hello = frameBytes(op: Control.Op.hello.rawValue, id: 1,
                               payload: [1, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0] + Array("one".utf8))
        let stream = hello + pingFrame(id: 2, data: [0xab]) + pingFrame(id: 3, data: Array("slow".utf8))
        for byte in stream {
            try connection.sendRaw([byte])
            usleep(500)
        }
        let answers = (0..<3).compactMap { _ in try? connection.receive() }
        #expect(answers.map(\.header.id) == [1, 2, 3])
        #expect(try answers[1].decode(Control.Ping.self).data.bytes == [0xab])
        #expect(try answers[2].decode(Control.Ping.self).data.string == "slow")
    }

    @Test("a client that stops reading slows the agent down instead of growing its memory")
    func transmitBackPressure() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-frame", "64K"])
        let connection = try agent.connect()
        let witness = try agent.connect()
        let data = (0..<60_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let count = 300  // about 18 MB of answers, far beyond every buffer on the way
        let sender = Thread {
            for id in 1...count { try? connection.sendRaw(pingFrame(id: UInt32(id), data: data)) }
        }
        sender.start()
        usleep(300_000)  // the agent now has output it cannot send and must stop reading
        #expect(try witness.ping([1]) == [1])
        for id in 1...count {
            let frame = try connection.receive()
            #expect(frame.header.id == UInt32(id))
            #expect(try frame.decode(Control.Ping.self).data.bytes == data)
        }
    }

    @Test("after the client half-closes, every request already sent is still answered")
    func halfClose() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        try connection.sendRaw(pingFrame(id: 1) + pingFrame(id: 2) + pingFrame(id: 3))
        connection.shutdownSending()
        let frames = connection.framesUntilClosed()
        #expect(frames.map(\.header.id) == [1, 2, 3])
    }
}
