import DbgWire
import Testing

@Suite("Message codec")
struct MessageCodecTests {
    @Test("encodes and decodes back to the same value", arguments: everyMessage)
    func roundTrip(_ sample: MessageSample) throws {
        let bytes = try sample.encode()
        #expect(try bytes.withUnsafeBytes { try sample.decodesToSample($0, false) }, "in place")
        #expect(try bytes.withUnsafeBytes { try sample.decodesToSample($0, true) }, "copying")
    }

    @Test("every truncation point is rejected", arguments: everyMessage)
    func everyPrefixIsTruncated(_ sample: MessageSample) throws {
        let bytes = try sample.encode()
        for length in 0..<bytes.count {
            do {
                _ = try bytes.withUnsafeBytes { try sample.decodesToSample(UnsafeRawBufferPointer(rebasing: $0[0..<length]), false) }
                Issue.record("\(sample): a \(length)-byte prefix of \(bytes.count) bytes decoded")
            } catch let error as WireError {
                guard case .truncated(_, let missing) = error, missing > 0 else {
                    Issue.record("\(sample): prefix \(length) gave \(error) instead of truncation")
                    continue
                }
            }
        }
    }

    @Test("trailing bytes are rejected", arguments: everyMessage)
    func trailingBytes(_ sample: MessageSample) throws {
        let bytes = try sample.encode() + [0, 0]
        #expect(throws: WireError.trailingBytes(count: 2)) { _ = try bytes.withUnsafeBytes { try sample.decodesToSample($0, false) } }
    }

    @Test("a bool byte other than 0 or 1 is rejected")
    func invalidBool() throws {
        var bytes = try encodeMessage(Dbg.FileChunk(data: WireBytes([7]), eof: true))
        bytes[bytes.count - 1] = 2
        #expect(throws: WireError.invalidBool(field: "Eof", value: 2)) {
            _ = try bytes.withUnsafeBytes { try Dbg.FileChunk.decode(payload: $0) }
        }
    }

    @Test("a length prefix larger than the payload is truncation, not a huge allocation")
    func oversizeLengthPrefix() {
        let bytes: [UInt8] = [0xff, 0xff, 0xff, 0xff, 1, 2, 3]
        #expect(throws: WireError.truncated(field: "Data", missing: 0xffff_ffff - 3)) {
            _ = try bytes.withUnsafeBytes { try Control.Ping.decode(payload: $0) }
        }
        // A []u32 count is checked against what is left before anything is reserved.
        #expect(throws: WireError.truncated(field: "Services", missing: 0xffff_ffff * 4 - 3)) {
            _ = try bytes.withUnsafeBytes { raw in
                var reader = WireReader(raw)
                return try reader.read("Services", as: [UInt32].self)
            }
        }
    }

    @Test("fields are little-endian, in seed order, strings length-prefixed")
    func exactLayout() throws {
        let request = Dbg.ExecRequest(token: "ab", command: "id", cwd: "", timeoutSec: -2)
        #expect(try encodeMessage(request) == [
            2, 0, 0, 0, 0x61, 0x62,  // Token
            2, 0, 0, 0, 0x69, 0x64,  // Command
            0, 0, 0, 0,  // Cwd
            0xfe, 0xff, 0xff, 0xff,  // TimeoutSec int32
        ])
        let exit = ShellExitEvent(sessionID: 0x0102_0304, exitCode: 130)
        #expect(try encodeMessage(exit) == [4, 3, 2, 1, 130, 0, 0, 0, 0, 0, 0, 0])
        let hello = Control.HelloResponse(version: 1, maxFrame: 0x100, agent: "a", services: [0x60], features: "")
        #expect(try encodeMessage(hello) == [1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0x61, 1, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test("the in-place layouts (FileChunk, ShellData around their data) write what the encoders write")
    func inPlaceLayouts() throws {
        func around(_ before: Int, _ encodeBefore: (inout WireWriter) throws(WireError) -> Void, data: [UInt8],
                    after: (inout WireWriter) throws(WireError) -> Void) throws -> [UInt8] {
            var head = [UInt8](repeating: 0, count: before)
            var tail = [UInt8](repeating: 0, count: 8)
            let tailCount = try tail.withUnsafeMutableBytes { raw in
                var writer = WireWriter(raw)
                try after(&writer)
                return writer.count
            }
            try head.withUnsafeMutableBytes { raw in
                var writer = WireWriter(raw)
                try encodeBefore(&writer)
                #expect(writer.count == before)
            }
            return head + data + tail.prefix(tailCount)
        }
        let data: [UInt8] = [9, 8, 7]
        for eof in [false, true] {
            let placed = try around(Dbg.FileChunk.bytesBeforeData, { w throws(WireError) in
                try Dbg.FileChunk.encodeBeforeData(dataLength: data.count, to: &w)
            }, data: data, after: { w throws(WireError) in try Dbg.FileChunk.encodeAfterData(eof: eof, to: &w) })
            #expect(placed == (try encodeMessage(Dbg.FileChunk(data: WireBytes(data), eof: eof))))
            #expect(placed.count == Dbg.FileChunk.bytesBeforeData + data.count + Dbg.FileChunk.bytesAfterData)
        }
        let output = try around(ShellData.bytesBeforeData, { w throws(WireError) in
            try ShellData.encodeBeforeData(sessionID: 0x0102_0304, dataLength: data.count, to: &w)
        }, data: data, after: { _ throws(WireError) in })
        #expect(output == (try encodeMessage(ShellData(sessionID: 0x0102_0304, data: WireBytes(data)))))
    }

    @Test("errors name the seed field that is malformed")
    func errorsNameTheField() throws {
        let bytes = try encodeMessage(Dbg.AuthRequest(username: "root", password: "pw"))
        #expect(throws: WireError.truncated(field: "Password", missing: 1)) {
            _ = try bytes.withUnsafeBytes { try Dbg.AuthRequest.decode(payload: UnsafeRawBufferPointer(rebasing: $0.dropLast())) }
        }
        #expect(WireError.truncated(field: "Password", missing: 1).message == "Password: payload ends 1 byte short of the field")
        #expect(WireError.truncated(field: "Password", missing: 1) != WireError.truncated(field: "Username", missing: 1))
    }

    @Test("decoded byte fields are views into the payload, not copies")
    func decodesInPlace() throws {
        let bytes = try encodeMessage(Control.Ping(data: WireBytes([1, 2, 3])))
        try bytes.withUnsafeBytes { raw in
            let ping = try Control.Ping.decode(payload: raw)
            ping.data.withUnsafeBytes { data in
                #expect(data.baseAddress == raw.baseAddress! + 4)
            }
        }
    }

    @Test("encoding into a buffer that is too small fails instead of overflowing")
    func noRoom() {
        var buffer = [UInt8](repeating: 0, count: 5)
        #expect(throws: WireError.noRoom(capacity: 5)) {
            try buffer.withUnsafeMutableBytes { raw in
                var writer = WireWriter(raw)
                try writer.write(Control.Ping(data: "hello"))
            }
        }
    }

    @Test("strings with NUL are detectable before they reach C")
    func nulDetection() {
        #expect(WireBytes([0x61, 0, 0x62]).containsNUL)
        #expect(!WireBytes("/tmp/a").containsNUL)
    }
}
