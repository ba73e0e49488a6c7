import DbgWire
import Testing

@Suite("WebSocket frames, handshake and UTF-8")
struct WebSocketTests {
    private func parse(_ bytes: [UInt8], max: UInt64 = 1 << 20, masked: Bool = true) throws(WebSocketFrame.Refusal) -> WebSocketFrame.Parse {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(WebSocketFrame.Refusal) in try WebSocketFrame.parse(raw, maxPayload: max, masked: masked) }
        }
        return try result.get()
    }

    @Test("RFC 6455's examples: a masked \"Hello\", lengths of 126 and 65536, a ping, server heads")
    func examples() throws {
        // Section 5.7: a single-frame masked text message "Hello".
        var frame: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        guard case .complete(let head, let length) = try parse(frame) else { throw Failure() }
        #expect(head == WebSocketFrame(fin: true, opcode: .text, length: 5, mask: 0x37fa213d) && length == 6)
        frame.withUnsafeMutableBytes { WebSocketFrame.unmask(UnsafeMutableRawBufferPointer(rebasing: $0[6...]), key: head.mask!) }
        #expect(Array(frame[6...]) == Array("Hello".utf8))
        // Unmasked piece by piece gives the same bytes.
        var pieces: [UInt8] = [0x7f, 0x9f, 0x4d, 0x51, 0x58]
        pieces.withUnsafeMutableBytes { raw in
            WebSocketFrame.unmask(UnsafeMutableRawBufferPointer(rebasing: raw[0..<3]), key: 0x37fa213d)
            WebSocketFrame.unmask(UnsafeMutableRawBufferPointer(rebasing: raw[3...]), key: 0x37fa213d, offset: 3)
        }
        #expect(pieces == Array("Hello".utf8))
        guard case .complete(let medium, 8) = try parse([0x82, 0xFE, 0x01, 0x00, 1, 2, 3, 4]) else { throw Failure() }
        #expect(medium.length == 256 && medium.opcode == .binary)
        guard case .complete(let large, 14) = try parse([0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]) else { throw Failure() }
        #expect(large.length == 65536)
        guard case .complete(let ping, 6) = try parse([0x89, 0x80, 1, 2, 3, 4]) else { throw Failure() }
        #expect(ping.opcode == .ping && ping.length == 0)
        for (length, head) in [(5, [0x81, 5]), (256, [0x81, 126, 1, 0]), (65536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])] as [(UInt64, [UInt8])] {
            var out = [UInt8](repeating: 0, count: 10)
            let count = out.withUnsafeMutableBytes { WebSocketFrame.writeServerHead(.text, length: length, into: $0) }
            #expect(Array(out[0..<count]) == head && count == WebSocketFrame.serverHeadLength(length))
            guard case .complete(let back, count) = try parse(Array(out[0..<count]), masked: false) else { throw Failure() }
            #expect(back.length == length)
        }
        for partial: [UInt8] in [[], [0x81], [0x81, 0xFE, 0x01], [0x81, 0xFF, 0, 0, 0, 0, 0, 1, 0], [0x81, 0x85, 1, 2, 3]] {
            #expect(try parse(partial) == .incomplete)
        }
    }

    @Test("bad frames close with 1002 or 1009")
    func refusals() {
        let cases: [([UInt8], UInt16)] = [
            ([0x81, 0x05, 72, 101, 108, 108, 111], 1002),           // unmasked from a client
            ([0xC1, 0x80, 1, 2, 3, 4], 1002),                       // RSV1
            ([0xA1, 0x80, 1, 2, 3, 4], 1002),                       // RSV2
            ([0x83, 0x80, 1, 2, 3, 4], 1002),                       // reserved data opcode
            ([0x8B, 0x80, 1, 2, 3, 4], 1002),                       // reserved control opcode
            ([0x09, 0x80, 1, 2, 3, 4], 1002),                       // fragmented ping
            ([0x89, 0xFE, 0, 126, 1, 2, 3, 4], 1002),               // control frame of 126
            ([0x81, 0xFE, 0, 5, 1, 2, 3, 4], 1002),                 // 16-bit length below 126
            ([0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 1, 2, 3, 4], 1002),   // 64-bit length that fits 16 bits
            ([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4], 1002),       // top bit set
            ([0x82, 0xFF, 0, 0, 0, 0, 0, 0x20, 0, 0, 1, 2, 3, 4], 1009),       // 2 MiB over a 1 MiB limit
        ]
        for (bytes, code) in cases {
            do throws(WebSocketFrame.Refusal) {
                _ = try parse(bytes)
                Issue.record("\(bytes) was taken")
            } catch {
                #expect(error.code == code, "\(bytes): \(error.reason)")
            }
        }
        #expect(throws: WebSocketFrame.Refusal.self) { _ = try parse([0x81, 0x80, 1, 2, 3, 4], masked: false) }
        #expect(WebSocketFrame.isValidCloseCode(1000) && WebSocketFrame.isValidCloseCode(4999))
        #expect(![0, 999, 1004, 1005, 1006, 1015, 2000, 5000].contains { WebSocketFrame.isValidCloseCode($0) })
    }

    @Test("the handshake's accept value (RFC 6455 section 1.3) and keys that are not 16 bytes")
    func handshake() {
        #expect(WebSocketHandshake.accept(key: Array("dGhlIHNhbXBsZSBub25jZQ==".utf8)) == Array("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".utf8))
        for bad in ["", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub25j*Q==", "dGhlIHNhbXBsZSBub25jZQ=x"] {
            #expect(WebSocketHandshake.accept(key: Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(Base64.encode(Array("foobar".utf8)) == Array("Zm9vYmFy".utf8) && Base64.encode(Array("fo".utf8)) == Array("Zm8=".utf8))
    }

    @Test("UTF-8 across pieces: valid text split anywhere, and each kind of bad sequence")
    func utf8() {
        let text = Array("ab é € 𝄞 z".utf8)
        for split in 0...text.count {
            var validator = UTF8Validator()
            let ok = text.withUnsafeBytes { raw in
                validator.feed(UnsafeRawBufferPointer(rebasing: raw[0..<split])) && validator.feed(UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(ok && validator.isComplete, "split at \(split)")
        }
        let bad: [[UInt8]] = [[0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0x80],
                              [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80], [0xFF], [0xC2, 0x41]]
        for bytes in bad {
            var validator = UTF8Validator()
            #expect(!bytes.withUnsafeBytes { validator.feed($0) }, "\(bytes)")
        }
        var open = UTF8Validator()
        #expect([UInt8]([0xE2, 0x82]).withUnsafeBytes { open.feed($0) } && !open.isComplete)
    }
}

private struct Failure: Error {}
