import DbgWire
import Testing

@Suite("Frame header")
struct FrameHeaderTests {
    private func encoded(_ header: FrameHeader) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        try bytes.withUnsafeMutableBytes { raw in
            var writer = WireWriter(raw)
            try header.encode(to: &writer)
        }
        return bytes
    }

    private func parsed(_ bytes: [UInt8]) -> FrameHeader {
        bytes.withUnsafeBytes { FrameHeader(parsing: $0) }
    }

    @Test("the 20 header bytes are laid out as DESIGN §2 says")
    func layout() throws {
        let header = FrameHeader(kind: .request, service: 0x60, op: 0x0610, id: 0x0A0B0C0D, length: 0x1234)
        #expect(try encoded(header) == [
            0x53, 0x32,  // "S2"
            1, 0,  // kind, flags
            0x60, 0, 0, 0,  // service
            0x10, 0x06, 0, 0,  // op, reserved
            0x0D, 0x0C, 0x0B, 0x0A,  // id
            0x34, 0x12, 0, 0,  // length
        ])
        #expect(parsed(try encoded(header)) == header)
    }

    @Test("a well-formed header has no violation")
    func wellFormed() {
        #expect(FrameHeader(kind: .event, service: 0x70, op: 0x0301, id: 0, length: 64).violation(maxPayload: 64) == nil)
    }

    @Test("each broken rule is reported")
    func violations() throws {
        var bytes = try encoded(FrameHeader(kind: .request, service: 0, op: 2, id: 1, length: 100))
        func violation(_ change: (inout [UInt8]) -> Void) -> FrameViolation? {
            var copy = bytes
            change(&copy)
            return parsed(copy).violation(maxPayload: 100)
        }
        #expect(violation { $0[0] = 0x47 } == .badMagic(0x3247))
        #expect(violation { $0[2] = 9 } == .unknownKind(9))
        #expect(violation { $0[3] = 0x80 } == .nonzeroFlags(0x80))
        #expect(violation { $0[11] = 1 } == .nonzeroReserved(0x100))
        #expect(violation { $0[16] = 101 } == .tooLarge(length: 101, max: 100))
        bytes[16] = 0xff; bytes[17] = 0xff; bytes[18] = 0xff; bytes[19] = 0xff
        #expect(parsed(bytes).violation(maxPayload: 1 << 20) == .tooLarge(length: .max, max: 1 << 20))
    }

    @Test("a whole frame is header plus payload, with the length filled in")
    func wholeFrame() throws {
        var buffer = [UInt8](repeating: 0xee, count: 64)
        let header = FrameHeader(kind: .response, service: 0, op: 2, id: 5)
        let size = try buffer.withUnsafeMutableBytes { try header.encodeFrame(Control.Ping(data: "hi"), into: $0) }
        #expect(size == 26)
        #expect(Array(buffer[16..<20]) == [6, 0, 0, 0])
        #expect(Array(buffer[20..<26]) == [2, 0, 0, 0, 0x68, 0x69])
    }

    @Test("a payload above the peer's limit is not encoded")
    func payloadLimit() {
        var buffer = [UInt8](repeating: 0, count: 64)
        let header = FrameHeader(kind: .response, service: 0, op: 2, id: 5)
        #expect(throws: WireError.self) {
            _ = try buffer.withUnsafeMutableBytes { try header.encodeFrame(Control.Ping(data: "hello"), into: $0, maxPayload: 8) }
        }
    }
}
