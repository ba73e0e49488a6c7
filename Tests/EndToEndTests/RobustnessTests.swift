import DbgClient
import DbgWire
import Foundation
import Testing

@Suite("Garbage, limits and timeouts")
struct RobustnessTests {
    struct Garbage: CustomStringConvertible, Sendable {
        let description: String
        let bytes: [UInt8]
        /// The error frame expected before the close, if any.
        let error: ErrorCode?
        /// Words of the agent's log line about it.
        let logged: String?
    }

    static let garbage: [Garbage] = {
        var generator = SystemRandomNumberGenerator()
        var random = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        random[0] = 0x00  // never "S"
        let header = pingFrame(id: 1)
        func patched(_ offset: Int, _ value: UInt8) -> [UInt8] {
            var bytes = header
            bytes[offset] = value
            return bytes
        }
        return [
            Garbage(description: "random bytes", bytes: random, error: nil, logged: "bad magic"),
            Garbage(description: "an HTTP request", bytes: Array("GET / HTTP/1.1\r\nHost: board\r\n\r\n".utf8), error: nil,
                    logged: "bad magic"),
            Garbage(description: "bad magic", bytes: patched(1, 0x33), error: nil, logged: "bad magic"),
            // Shorter than a header: told by its first two bytes, not kept for the handshake timeout.
            Garbage(description: "a 5-byte probe", bytes: Array("GET /".utf8), error: nil, logged: "bad magic 0x4547"),
            Garbage(description: "a huge length", bytes: Array(header[0..<16]) + [0xff, 0xff, 0xff, 0xff], error: .tooLarge,
                    logged: "exceeds the maximum"),
            Garbage(description: "non-zero flags", bytes: patched(3, 1), error: .badRequest, logged: "non-zero flags"),
            Garbage(description: "non-zero reserved field", bytes: patched(10, 1), error: .badRequest, logged: "non-zero reserved"),
            Garbage(description: "an unknown frame kind", bytes: patched(2, 9), error: .badRequest, logged: "unknown frame kind"),
            Garbage(description: "a response sent to the agent", bytes: patched(2, 2), error: .badRequest,
                    logged: "unexpected frame kind"),
            Garbage(description: "a truncated header, then close", bytes: Array(header[0..<11]), error: nil, logged: nil),
        ]
    }()

    @Test("garbage ends only its own connection; another connection keeps working throughout")
    func garbageIsContained() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"])
        let witness = try agent.connect()
        for garbage in Self.garbage {
            #expect(try witness.ping([1]) == [1])
            let victim = try agent.connect()
            try victim.sendRaw(garbage.bytes)
            if garbage.error == nil { victim.shutdownSending() }
            let frames = victim.framesUntilClosed()
            if let code = garbage.error {
                #expect(frames.count == 1, "\(garbage)")
                if let frame = frames.first { _ = victim.expectError(frame, code) }
            } else {
                #expect(frames.isEmpty, "\(garbage)")
            }
            if let words = garbage.logged {
                #expect(agent.waitForLine(timeout: 10) { $0.contains(words) } != nil, "no log line for \(garbage)")
            }
            #expect(try witness.ping([2]) == [2], "after \(garbage)")
        }
        #expect(agent.isRunning)
    }

    @Test("a connection table full of connections that cannot be evicted turns the next connection away with Busy")
    func tableFull() throws {
        // Unix socket peers are never evicted for a newcomer (network peers that have not
        // logged in are: see HardeningAccessTests).
        let socket = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-full-\(UUID().uuidString.prefix(8))").path
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--unix", socket, "--max-connections", "2"])
        let first = try agent.connect(agent.unixAddresses[0])
        let second = try agent.connect(agent.unixAddresses[0])
        #expect(try first.ping() == [] && second.ping() == [])
        let third = try agent.connect()
        let frames = third.framesUntilClosed()
        #expect(frames.count == 1)
        if let frame = frames.first {
            #expect(frame.header.id == 0)
            #expect(third.expectError(frame, .busy).contains("connection table full"))
        }
        #expect(try first.ping([1]) == [1])
        first.shutdownSending()
        _ = first.framesUntilClosed()
        #expect(try agent.connect().ping([3]) == [3])
    }

    @Test("a connection that never completes a frame is closed after the handshake timeout")
    func handshakeTimeout() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--handshake-timeout", "1"])
        let silent = try agent.connect()
        let partial = try agent.connect()
        try partial.sendRaw(Array(pingFrame(id: 1)[0..<10]))
        let start = Date()
        for connection in [silent, partial] {
            let frames = connection.framesUntilClosed()
            #expect(frames.count == 1)
            if let frame = frames.first { #expect(connection.expectError(frame, .timeout).contains("no complete frame")) }
        }
        #expect(Date().timeIntervalSince(start) < 8)
    }

    @Test("an idle connection is closed after the idle timeout; an active one is not")
    func idleTimeout() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--idle-timeout", "2"])
        let idle = try agent.connect()
        let active = try agent.connect()
        #expect(try idle.ping() == [])
        for _ in 0..<6 {
            #expect(try active.ping([1]) == [1])
            usleep(500_000)
        }
        let frames = idle.framesUntilClosed()
        #expect(frames.count == 1)
        if let frame = frames.first { #expect(idle.expectError(frame, .timeout).contains("idle for 2 s")) }
        #expect(try active.ping([2]) == [2])
    }
}
