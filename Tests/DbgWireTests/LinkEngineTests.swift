@testable import DbgWire
import Testing

@Suite("Serial link: line coding and the reliable stream")
struct LinkEngineTests {
    @Test("CRC-32 check value, COBS round trips including zeros and 254-byte runs, corruption refused")
    func lineCoding() {
        let check = Array("123456789".utf8).withUnsafeBytes { LineCoding.crc32($0) }
        #expect(check == 0xCBF4_3926)
        var random = SplitMix(seed: 1)
        let packets: [[UInt8]] = [[], [0], [0, 0], [1], Array(repeating: 7, count: 254), Array(repeating: 7, count: 255),
                                  Array(repeating: 0, count: 300), (0..<1100).map { _ in UInt8(truncatingIfNeeded: random.next()) }]
        for packet in packets {
            var line: [UInt8] = []
            LineCoding.encode(packet, into: &line)
            #expect(line.last == 0 && !line.dropLast().contains(0))
            #expect(LineCoding.decode(line.dropLast()) == packet)
            for position in stride(from: 0, to: line.count - 1, by: max(1, line.count / 7)) {
                var damaged = line
                damaged[position] ^= 0x10
                #expect(LineCoding.decode(damaged.dropLast()) != packet || damaged == line)
            }
        }
    }

    @Test("a 1 MiB stream each way arrives byte-exact over a line that corrupts and drops bytes")
    func noisyLine() {
        let result = LinkSimulation.run(bytesEachWay: 1 << 20, errorEvery: 10_000, seed: 7)
        #expect(result.clientReceived == result.agentSent)
        #expect(result.agentReceived == result.clientSent)
        #expect(result.agentCounters.framesDropped + result.clientCounters.framesDropped > 50)
        #expect(result.agentCounters.retransmissions + result.clientCounters.retransmissions > 50)
        // Each way at once, 100 bytes per ms: the ideal is 10.5 s.
        #expect(result.elapsed < 16_000, "took \(result.elapsed) ms")
    }

    @Test("a clean line: no retransmission, no drop")
    func cleanLine() {
        let result = LinkSimulation.run(bytesEachWay: 256 << 10, errorEvery: 0, seed: 3)
        #expect(result.clientReceived == result.agentSent && result.agentReceived == result.clientSent)
        #expect(result.agentCounters.retransmissions == 0 && result.clientCounters.retransmissions == 0)
        #expect(result.agentCounters.framesDropped == 0 && result.clientCounters.framesDropped == 0)
        #expect(result.elapsed < 3_000, "took \(result.elapsed) ms")  // ideal: 2.6 s
    }

    @Test("resets, closes, and an agent that forgot the stream")
    func lifecycle() {
        var agent = LinkEngine(role: .agent, baud: 1_000_000)
        var client = LinkEngine(role: .client, baud: 1_000_000)
        func exchange(_ now: Int64) -> ([LinkEngine.Event], [LinkEngine.Event]) {
            let toAgent = Array(client.lineOutput(now: now))
            client.lineWritten(toAgent.count, now: now)
            let agentEvents = toAgent.withUnsafeBytes { agent.receive($0, now: now) }
            let toClient = Array(agent.lineOutput(now: now))
            agent.lineWritten(toClient.count, now: now)
            return (agentEvents, toClient.withUnsafeBytes { client.receive($0, now: now) })
        }
        #expect(client.writeOutbound(UnsafeRawBufferPointer(start: nil, count: 0)) == 0 && !client.isOpen)
        client.open(nonce: 11, now: 0)
        var (agentEvents, clientEvents) = exchange(0)
        #expect(agentEvents == [.reset] && clientEvents == [.opened])
        // A second client (or the same one after a crash) starts afresh.
        client.open(nonce: 12, now: 10)
        (agentEvents, clientEvents) = exchange(10)
        #expect(agentEvents == [.reset] && clientEvents == [.opened])
        // A keepalive: an ACK asking for an answer gets one, which is not progress.
        client.requestAnswer()
        _ = exchange(15)
        #expect(client.lastReceived == 15 && client.lastProgress == 0)
        // Data is: the agent's side receives it, the client's side gets it acknowledged.
        _ = [UInt8](repeating: 2, count: 10).withUnsafeBytes { client.writeOutbound($0) }
        _ = exchange(17)
        #expect(agent.lastProgress == 17 && client.lastProgress == 17)
        client.close()
        (agentEvents, _) = exchange(20)
        #expect(agentEvents == [.closed])
        // An agent that restarted answers data of an unknown stream with NO_LINK.
        client.open(nonce: 13, now: 30)
        _ = exchange(30)
        agent = LinkEngine(role: .agent, baud: 1_000_000)
        _ = [UInt8](repeating: 1, count: 10).withUnsafeBytes { client.writeOutbound($0) }
        (_, clientEvents) = exchange(40)
        #expect(clientEvents == [.peerLost])
    }
}

/// Two engines joined by a simulated line, 1 Mbaud each way, with optional damage: every
/// `errorEvery` bytes on average one byte is flipped or dropped.
enum LinkSimulation {
    struct Result {
        var agentSent: [UInt8] = [], clientSent: [UInt8] = []
        var agentReceived: [UInt8] = [], clientReceived: [UInt8] = []
        var agentCounters = LinkEngine.Counters(), clientCounters = LinkEngine.Counters()
        /// Simulated time the transfer took, in ms.
        var elapsed: Int64 = 0
    }

    static func run(bytesEachWay: Int, errorEvery: Int, seed: UInt64) -> Result {
        var random = SplitMix(seed: seed)
        var result = Result()
        result.agentSent = (0..<bytesEachWay).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        result.clientSent = (0..<bytesEachWay).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        var agent = LinkEngine(role: .agent, baud: 1_000_000)
        var client = LinkEngine(role: .client, baud: 1_000_000)
        client.open(nonce: 99, now: 0)
        var sentByAgent = 0, sentByClient = 0
        var buffer = [UInt8](repeating: 0, count: 8192)
        let bytesPerMs = 100  // 1 Mbaud, 8N1
        for now in Int64(0)..<600_000 {
            for side in 0..<2 {
                var (from, to) = side == 0 ? (client, agent) : (agent, client)
                var line: [UInt8] = []
                while line.count < bytesPerMs {
                    let chunk = Array(from.lineOutput(now: now).prefix(bytesPerMs - line.count))
                    if chunk.isEmpty { break }
                    from.lineWritten(chunk.count, now: now)
                    line += chunk
                }
                var damaged: [UInt8] = []
                for byte in line {
                    if errorEvery > 0 && random.next() % UInt64(errorEvery) == 0 {
                        if random.next() % 2 == 0 { damaged.append(byte ^ UInt8(1 << (random.next() % 8))) }
                        continue
                    }
                    damaged.append(byte)
                }
                _ = damaged.withUnsafeBytes { to.receive($0, now: now) }
                if side == 0 { (client, agent) = (from, to) } else { (agent, client) = (from, to) }
            }
            if agent.isOpen, sentByAgent < bytesEachWay {
                sentByAgent += result.agentSent[sentByAgent...].withUnsafeBytes { agent.writeOutbound($0) }
            }
            if client.isOpen, sentByClient < bytesEachWay {
                sentByClient += result.clientSent[sentByClient...].withUnsafeBytes { client.writeOutbound($0) }
            }
            var got = buffer.withUnsafeMutableBytes { agent.readInbound(into: $0) }
            result.agentReceived += buffer[0..<got]
            got = buffer.withUnsafeMutableBytes { client.readInbound(into: $0) }
            result.clientReceived += buffer[0..<got]
            result.elapsed = now
            if result.agentReceived.count == bytesEachWay && result.clientReceived.count == bytesEachWay { break }
        }
        result.agentCounters = agent.counters
        result.clientCounters = client.counters
        return result
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
