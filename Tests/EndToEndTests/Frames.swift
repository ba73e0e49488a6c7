import DbgClient
import DbgWire
import Foundation
import Testing

/// Raw frame bytes, for sending exactly what a test wants (including broken frames).
func frameBytes(kind: FrameKind = .request, service: UInt32 = ServiceID.control, op: UInt16, id: UInt32,
                payload: [UInt8]) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: FrameHeader.size)
    header.withUnsafeMutableBytes { raw in
        var writer = WireWriter(raw)
        try! FrameHeader(kind: kind, service: service, op: op, id: id, length: UInt32(payload.count)).encode(to: &writer)
    }
    return header + payload
}

func pingFrame(id: UInt32, data: [UInt8] = []) -> [UInt8] {
    frameBytes(op: Control.Op.ping.rawValue, id: id, payload: [UInt8](withUnsafeBytes(of: UInt32(data.count).littleEndian) { Array($0) }) + data)
}

extension AgentConnection {
    /// Receives frames until the agent closes the connection; returns what came before.
    func framesUntilClosed() -> [ReceivedFrame] {
        var frames: [ReceivedFrame] = []
        while true {
            do throws(ClientError) {
                frames.append(try receive())
            } catch {
                return frames
            }
        }
    }

    /// The error a frame carries, decoded; records an issue if it is not an error frame.
    func expectError(_ frame: ReceivedFrame, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(frame.header.kind == .error, sourceLocation: sourceLocation)
        guard let payload = try? frame.decode(ErrorPayload.self) else {
            Issue.record("undecodable error payload", sourceLocation: sourceLocation)
            return ""
        }
        #expect(payload.code == code, "\(payload.message.string)", sourceLocation: sourceLocation)
        return payload.message.string
    }
}

/// Runs `body` on `count` threads at once and waits for all of them.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let group = DispatchGroup()
    let failures = NSLock()
    nonisolated(unsafe) var errors: [String] = []
    for index in 0..<count {
        group.enter()
        Thread {
            defer { group.leave() }
            do { try body(index) } catch {
                failures.lock()
                errors.append("thread \(index): \(error)")
                failures.unlock()
            }
        }.start()
    }
    group.wait()
    if let first = errors.first { throw AgentProcessError("\(errors.count) threads failed; first: \(first)") }
}

extension ClientError: CustomStringConvertible {
    public var description: String { message }
}
