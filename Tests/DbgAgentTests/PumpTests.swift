@testable import DbgAgent
import CSys
import DbgWire
import Foundation
import Testing

/// The Sutra front end in this process, over a socketpair: the pump, pipelining and
/// back-pressure, with no dbgd process and no network.
@Suite("Pump and back-pressure, in process")
struct PumpTests {
    /// The service core and the Sutra front end on a loop this test turns by hand.
    final class Harness {
        let loop: EventLoop
        let timer: DeadlineTimer
        let core: ServiceCore
        let frontEnd: SutraFrontEnd
        let scratch: String

        init() throws {
            scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pump-\(UUID().uuidString.prefix(8))").path
            var config = AgentConfig()
            config.distroRoot = scratch + "/distro"
            config.maxConnections = 2
            loop = try EventLoop()
            timer = try DeadlineTimer()
            core = try ServiceCore(config: config, timer: timer, loop: loop)
            let distro = try DistroService(config: config, core: core)
            let router = RequestRouter(control: ControlService(maxFrame: config.maxFrame, services: RequestRouter.served,
                                                               features: "test"),
                                       dbg: DbgService(config: config, core: core), distro: distro)
            frontEnd = try SutraFrontEnd(config: config, loop: loop, timer: timer, core: core, router: router, listeners: [],
                                         tls: nil)
        }

        deinit { try? FileManager.default.removeItem(atPath: scratch) }

        /// A connection whose other end the test holds (non-blocking).
        func connect() throws -> (slot: Int, peer: Int32) {
            var ends: [Int32] = [-1, -1]
            try #require(csys_socketpair(&ends) == 0)
            let slot = try frontEnd.adopt(FileDescriptor(ends[0]), peer: SocketAddress.serialLine("test"))
            return (slot, ends[1])
        }

        /// One turn of the loop: what is ready now is handled.
        func turn() throws { try loop.poll(timeoutMs: 5) { core.announceCompletions() } }
    }

    static func ping(id: UInt32, bytes: Int) throws -> [UInt8] {
        var frame = [UInt8](repeating: 0, count: FrameHeader.size + 4 + bytes)
        let data = WireBytes([UInt8](repeating: UInt8(truncatingIfNeeded: id), count: bytes))
        _ = try frame.withUnsafeMutableBytes {
            try FrameHeader(kind: .request, service: ServiceID.control, op: Control.Op.ping.rawValue, id: id)
                .encodeFrame(Control.Ping(data: data), into: $0)
        }
        return frame
    }

    /// Whole frames out of `buffer`: (id, payload length) each, in order.
    static func takeFrames(_ buffer: inout [UInt8]) -> [(UInt32, Int)] {
        var frames: [(UInt32, Int)] = []
        while buffer.count >= FrameHeader.size {
            let header = buffer.withUnsafeBytes { FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[0..<FrameHeader.size])) }
            let end = FrameHeader.size + Int(header.length)
            guard buffer.count >= end else { break }
            frames.append((header.id, Int(header.length)))
            buffer.removeFirst(end)
        }
        return frames
    }

    static func readAvailable(_ fd: Int32, into buffer: inout [UInt8]) {
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { return }
            buffer += chunk[0..<count]
        }
    }

    @Test("pipelined requests are all answered, in order, by turning the loop")
    func pipelined() throws {
        let harness = try Harness()
        let (_, peer) = try harness.connect()
        defer { close(peer) }
        var sent: [UInt8] = []
        for id in UInt32(1)...200 { sent += try Self.ping(id: id, bytes: 10) }
        #expect(write(peer, sent, sent.count) == sent.count)
        var received: [UInt8] = []
        var answers: [(UInt32, Int)] = []
        for _ in 0..<200 where answers.count < 200 {
            try harness.turn()
            Self.readAvailable(peer, into: &received)
            answers += Self.takeFrames(&received)
        }
        #expect(answers.map(\.0) == Array(UInt32(1)...200))
        #expect(answers.allSatisfy { $0.1 == 14 })
    }

    @Test("a peer that stops reading stops being read; once it reads, every answer arrives in order")
    func backPressure() throws {
        let harness = try Harness()
        let (slot, peer) = try harness.connect()
        defer { close(peer) }
        let size = 60 << 10
        var next: UInt32 = 1
        var pending: [UInt8] = []
        // Write pings and never read, until the agent has stopped taking them for a while.
        var stalled = 0
        for _ in 0..<2000 where stalled < 50 {
            if pending.isEmpty {
                pending = try Self.ping(id: next, bytes: size)
                next += 1
            }
            let count = write(peer, pending, pending.count)
            if count > 0 {
                pending.removeFirst(count)
                stalled = 0
            } else {
                stalled += 1
            }
            try harness.turn()
        }
        #expect(stalled >= 50, "the agent kept reading from a peer that reads nothing")
        let (pendingOutput, registered, transmitted) = (harness.frontEnd.connections[slot].pendingOutput,
                                                        harness.frontEnd.connections[slot].registered,
                                                        harness.frontEnd.connections[slot].transmit.readableCount)
        #expect(pendingOutput > AgentConfig.transmitBatch, "output waits in the agent, up to its mark")
        #expect(!registered.contains(.readable), "the socket is out of epoll for reading")
        #expect(transmitted <= FrameHeader.size + Int(AgentConfig().maxFrame) + AgentConfig.transmitBatch)
        // Now read (and finish the last request): the agent resumes and answers every
        // request, in order.
        let requests = Int(next - 1)
        var received: [UInt8] = []
        var answers: [UInt32] = []
        for _ in 0..<5000 where answers.count < requests {
            if !pending.isEmpty {
                let count = write(peer, pending, pending.count)
                if count > 0 { pending.removeFirst(count) }
            }
            try harness.turn()
            Self.readAvailable(peer, into: &received)
            answers += Self.takeFrames(&received).map(\.0)
        }
        #expect(requests > 3)
        #expect(answers == Array(1...UInt32(requests)))
        #expect(harness.frontEnd.connections[slot].pendingOutput == 0)
    }
}
