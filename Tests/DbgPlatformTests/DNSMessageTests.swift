import DbgPlatform
import Testing

@Suite("Multicast DNS messages")
struct DNSMessageTests {
    /// `name` in wire format, uncompressed.
    private func wire(_ name: String) -> [UInt8] {
        name.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0]
    }

    private func parse(_ bytes: [UInt8]) throws(DNSError) -> DNSMessage {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { raw.deallocate() }
        raw.copyBytes(from: bytes)
        return try DNSMessage.parse(UnsafeRawBufferPointer(raw))
    }

    @Test("a response with PTR, a compressed SRV, TXT and A reads as written; encoding reads back the same")
    func response() throws {
        let header: [UInt8] = [0, 0, 0x84, 0, 0, 0, 0, 4, 0, 0, 0, 0]
        let service = wire("_dbg._tcp.local")
        let instance = wire("b._dbg._tcp.local")
        var bytes = header + service + [0, 12, 0, 1, 0, 0, 0x11, 0x94, 0, UInt8(instance.count)] + instance
        let instanceAt = UInt8(header.count + service.count + 10)
        let target = wire("b.local")
        bytes += [0xC0, instanceAt, 0, 33, 0x80, 1, 0, 0, 0, 120, 0, UInt8(6 + target.count), 0, 0, 0, 0, 0x13, 0xAD] + target
        bytes += [0xC0, instanceAt, 0, 16, 0x80, 1, 0, 0, 0, 120, 0, 12, 11] + Array("arch=x86_64".utf8)
        bytes += target + [0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 10, 0, 0, 1]
        let message = try parse(bytes)
        #expect(message.isResponse && message.answers.count == 4)
        #expect(message.answers[0].data == .pointer(DNSName("b._dbg._tcp.local")))
        #expect(message.answers[1].name == DNSName("B._DBG._tcp.local") && message.answers[1].cacheFlush)
        #expect(message.answers[1].data == .service(priority: 0, weight: 0, port: 5037, target: DNSName("b.local")))
        #expect(message.answers[2].data == .text([Array("arch=x86_64".utf8)]))
        #expect(message.answers[3].data == .address([10, 0, 0, 1]))
        let again = try parse(try #require(message.encode()))
        #expect(again.answers.map(\.data) == message.answers.map(\.data) && again.answers.map(\.name) == message.answers.map(\.name))
    }

    @Test("bad packets are refused, not followed: pointer loops and forward pointers, names over 255 bytes, cut records")
    func refusals() {
        let question: [UInt8] = [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSError.badName) { try parse(question + [0xC0, 12, 0, 1, 0, 1]) }  // points at itself
        #expect(throws: DNSError.badName) { try parse(question + [0xC0, 40, 0, 1, 0, 1] + [UInt8](repeating: 0, count: 40)) }
        let label: [UInt8] = [63] + [UInt8](repeating: 97, count: 63)
        let long: [UInt8] = label + label + label + label + label + [0, 0, 1, 0, 1]
        #expect(throws: DNSError.badName) { try parse(question + long) }
        #expect(throws: DNSError.truncated) { try parse(question + wire("a.local")) }
        let answer: [UInt8] = [0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0]
        #expect(throws: DNSError.truncated) { try parse(answer + wire("a.local") + [0, 1, 0, 1, 0, 0, 0, 1, 0, 9, 1, 2]) }
        // An SRV whose target name runs past its data length.
        #expect(throws: DNSError.badName) {
            try parse(answer + wire("a.local") + [0, 33, 0, 1, 0, 0, 0, 1, 0, 7, 0, 0, 0, 0, 0, 1] + wire("x.local"))
        }
        #expect(throws: DNSError.unsupported) { try parse([0, 0, 0x28, 0] + [UInt8](repeating: 0, count: 8)) }  // an update
    }
}
