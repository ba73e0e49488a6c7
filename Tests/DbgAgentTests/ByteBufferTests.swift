@testable import DbgAgent
import DbgWire
import Testing

@Suite("Receive and transmit buffers")
struct ByteBufferTests {
    private func withBuffer(_ capacity: Int, _ body: (inout ByteBuffer) throws -> Void) rethrows {
        let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 8)
        defer { memory.deallocate() }
        var buffer = ByteBuffer(memory)
        try body(&buffer)
    }

    private func append(_ bytes: [UInt8], to buffer: inout ByteBuffer) {
        buffer.writable.copyBytes(from: bytes)
        buffer.didWrite(bytes.count)
    }

    @Test("consuming everything rewinds to the start")
    func rewind() {
        withBuffer(16) { buffer in
            append([1, 2, 3], to: &buffer)
            buffer.didRead(3)
            #expect(buffer.readIndex == 0 && buffer.writeIndex == 0 && buffer.writable.count == 16)
        }
    }

    @Test("compaction keeps unread bytes and makes room")
    func compaction() {
        withBuffer(8) { buffer in
            append([1, 2, 3, 4, 5, 6], to: &buffer)
            buffer.didRead(4)
            let roomFor5 = buffer.reserveWritable(5)
            #expect(roomFor5)
            #expect(Array(buffer.readable) == [5, 6])
            #expect(buffer.writable.count == 6)
            let roomFor7 = buffer.reserveWritable(7)
            #expect(!roomFor7)
        }
    }

    private func frame(_ header: FrameHeader, _ payload: [UInt8]) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        var header = header
        header.length = UInt32(payload.count)
        try bytes.withUnsafeMutableBytes { raw in
            var writer = WireWriter(raw)
            try header.encode(to: &writer)
        }
        return bytes + payload
    }

    @Test("frames are found only once complete, in order")
    func frameReassembly() throws {
        let ping = try frame(FrameHeader(kind: .request, service: 0, op: 2, id: 1), [0, 0, 0, 0])
        try withBuffer(256) { buffer in
            for byte in ping.dropLast() {
                append([byte], to: &buffer)
                guard case .incomplete = buffer.nextFrame(maxPayload: 64) else {
                    Issue.record("a frame was found after \(buffer.readableCount) bytes")
                    return
                }
            }
            append([ping.last!] + (try frame(FrameHeader(kind: .request, service: 0, op: 2, id: 2), [])), to: &buffer)
            guard case .request(let first) = buffer.nextFrame(maxPayload: 64) else {
                Issue.record("first frame not found")
                return
            }
            #expect(first.header.id == 1 && first.payload.count == 4)
            buffer.didRead(FrameHeader.size + first.payload.count)
            guard case .request(let second) = buffer.nextFrame(maxPayload: 64) else {
                Issue.record("second frame not found")
                return
            }
            #expect(second.header.id == 2 && second.payload.isEmpty)
        }
    }

    @Test("a bad header is reported before its payload arrives")
    func earlyViolation() throws {
        let huge = try frame(FrameHeader(kind: .request, service: 0, op: 2, id: 1), [])
        var bytes = huge
        bytes[16...19] = [0, 0, 1, 0]  // 65536 > 64
        withBuffer(64) { buffer in
            append(bytes, to: &buffer)
            guard case .violation(_, .tooLarge(65536, 64)) = buffer.nextFrame(maxPayload: 64) else {
                Issue.record("oversize frame not reported")
                return
            }
        }
        var response = huge
        response[2] = FrameKind.response.rawValue
        withBuffer(64) { buffer in
            append(response, to: &buffer)
            guard case .unexpectedKind = buffer.nextFrame(maxPayload: 64) else {
                Issue.record("a response from a client was not reported")
                return
            }
        }
    }
}
