import DbgWire
import Testing

@Suite("Protobuf codec and the channel messages")
struct ProtobufTests {
    private func encode(_ command: API.Command, capacity: Int = 4096) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let count = try buffer.withUnsafeMutableBytes { raw in try command.encode(into: raw) }
        return Array(buffer[0..<count])
    }

    /// `bytes` decoded, and `look` given the Command (whose strings are views into them).
    private func decoded<R>(_ bytes: [UInt8], _ look: (API.Command) -> R) throws -> R {
        try bytes.withUnsafeBytes { raw in look(try API.Command.decode(payload: raw)) }
    }

    private func roundTrips(_ command: API.Command, capacity: Int = 4096) throws -> Bool {
        try decoded(encode(command, capacity: capacity)) { $0 == command }
    }

    private func written(_ body: (inout ProtobufWriter) throws -> Void) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = try buffer.withUnsafeMutableBytes { raw -> Int in
            var writer = ProtobufWriter(raw)
            try body(&writer)
            return writer.count
        }
        return Array(buffer[0..<count])
    }

    private func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    private func failure(_ bytes: [UInt8]) -> ProtobufError? {
        do {
            try decoded(bytes) { _ in }
            return nil
        } catch {
            return error as? ProtobufError
        }
    }

    @Test("scalars are written as protobuf writes them: shortest varints, 10 bytes for a negative int32, zigzag")
    func scalars() throws {
        #expect(try written { w in try w.uint64(1, 150) } == [0x08, 0x96, 0x01])
        #expect(try written { w in try w.int32(1, -1) } == [0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(try written { w in try w.sint32(1, -1) } == [0x08, 0x01])
        #expect(try written { w in try w.sint32(1, 1) } == [0x08, 0x02])
        #expect(try written { w in try w.sint64(2, Int64.min) }
            == [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(try written { w in try w.fixed32(3, 1) } == [0x1D, 1, 0, 0, 0])
        #expect(try written { w in try w.fixed64(3, 1) } == [0x19, 1, 0, 0, 0, 0, 0, 0, 0])
        // proto3: a default value is left out, unless its presence counts.
        #expect(try written { w in try w.uint64(1, 0); try w.bytes(2, .empty) } == [])
        #expect(try written { w in try w.bool(1, false, always: true) } == [0x08, 0x00])

        let input: [UInt8] = [0x08, 0x96, 0x01, 0x10, 0x03, 0x18] + [UInt8](repeating: 0xFF, count: 9) + [0x01]
        let read = try input.withUnsafeBytes { raw throws -> [Int64] in
            var reader = ProtobufReader(raw)
            var fields: [Int64] = []
            while let field = try reader.nextField() {
                fields.append(Int64(field))
                switch field {
                case 1: fields.append(Int64(try reader.uint32()))
                case 2: fields.append(Int64(try reader.sint32()))
                default: fields.append(Int64(try reader.int32()))
                }
            }
            return fields
        }
        #expect(read == [1, 150, 2, -2, 3, -1])
    }

    @Test("a Command has the bytes protobuf gives it, and reads back the same")
    func command() throws {
        var ok = API.Command(channel: 3, session: 2, ref: "r")
        ok.body = .ok(API.OK())
        // channel, session, ok (field 30: an empty message), ref (field 1000).
        #expect(try encode(ok) == [0x08, 0x03, 0x10, 0x02, 0xF2, 0x01, 0x00, 0xC2, 0x3E, 0x01, 0x72])
        #expect(try roundTrips(ok))

        var exec = API.Command(channel: -5)
        exec.body = .exec(API.Exec(args: ["sh", "-c", "echo $A"], env: [.init(key: "A", value: "b")], blocking: true))
        // As Python's protobuf 7.36 writes it from protoc 3.21's classes for Scripts/api.proto.
        #expect(try encode(exec) == hex("08fbffffffffffffffff01f2101b0a0273680a022d630a076563686f20244112060a01411201621801"))
        #expect(try roundTrips(exec))

        var open = API.Command()
        open.body = .openChan(API.OpenChannel(service: "shell", name: "console", action: .attachOrCreate, id: 7))
        #expect(try roundTrips(open))
        var state = API.Command(channel: 1)
        state.body = .state(.running)
        #expect(try encode(state) == [0x08, 0x01, 0xE0, 0x01, 0x01])
        state.body = .state(.stopped)  // a oneof member is sent even at its default
        #expect(try encode(state) == [0x08, 0x01, 0xE0, 0x01, 0x00])
        #expect(try roundTrips(state))
    }

    @Test("a nested message of 128 bytes or more gets its longer length in front")
    func longNested() throws {
        for size in [100, 125, 126, 127, 128, 300, 20_000] {
            var command = API.Command(channel: 2)
            command.body = .file(API.File(path: "/tmp/x", type: .regular, content: WireBytes([UInt8](repeating: 0x61, count: size))))
            #expect(try roundTrips(command, capacity: 32 << 10), "content of \(size) bytes")
        }
        var files = API.Command()
        files.body = .files(API.Files(files: (0..<50).map { API.File(path: WireBytes("/dir/entry-\($0)"), type: .directory) }))
        #expect(try roundTrips(files))
    }

    @Test("unknown fields of every wire type are passed over; a body of the seed that is not implemented is named")
    func unknownFields() throws {
        let unknown: [UInt8] = [0xB8, 0x3E, 0x05,  // field 999, varint
                                0xB1, 0x3E, 1, 2, 3, 4, 5, 6, 7, 8,  // field 998, fixed64
                                0xAD, 0x3E, 1, 2, 3, 4,  // field 997, fixed32
                                0xA2, 0x3E, 0x02, 0x41, 0x42]  // field 996, bytes
        #expect(try decoded(unknown + [0xF2, 0x01, 0x00]) { $0.body == .ok(API.OK()) })
        #expect(try decoded([0x5A, 0x00]) { $0.body == .unimplemented(11) })  // toast
        #expect(try decoded([]) { $0 == API.Command() })
    }

    @Test("repeated scalars read packed and unpacked")
    func packed() throws {
        let runs = try [UInt8]([0x0A, 0x03, 0x01, 0x96, 0x01, 0x08, 0x07]).withUnsafeBytes { raw throws -> [[UInt64]] in
            var reader = ProtobufReader(raw)
            var runs: [[UInt64]] = []
            while try reader.nextField() == 1 { runs.append(try reader.packedVarints()) }
            return runs
        }
        #expect(runs == [[1, 150], [7]])
        #expect(try written { w in try w.packedVarints(1, [1, 150]) } == [0x0A, 0x03, 0x01, 0x96, 0x01])
    }

    @Test("malformed input is refused with the reason, never read past its end")
    func malformed() {
        #expect(failure([0x08]) == .truncated(field: 1))
        #expect(failure([0x08, 0x80]) == .truncated(field: 1))
        #expect(failure([0x80]) == .truncated(field: 0))
        #expect(failure([0x08] + [UInt8](repeating: 0x80, count: 10) + [0x01]) == .overlongVarint(field: 1))
        #expect(failure([0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x02]) == .overlongVarint(field: 1))
        #expect(failure([0xF2, 0x01, 0x05, 0x00]) == .truncated(field: 30))  // a length past the end
        #expect(failure([0xF2, 0x01, 0x80, 0x80, 0x80, 0x20]) == .truncated(field: 30))  // 64 MiB announced
        #expect(failure([0x0D, 1, 2, 3, 4]) == .wrongWireType(field: 1, sent: 5))  // channel as fixed32
        #expect(failure([0xB0, 0x01, 0x01]) == .wrongWireType(field: 22, sent: 0))  // input as a varint
        #expect(failure([0x00, 0x00]) == .badFieldNumber)
        #expect(failure([0x0B]) == .badWireType(3))  // a group
        #expect(failure([0x0E]) == .badWireType(6))
        #expect(failure([0xB2, 0x01, 0x02, 0xC3, 0x28]) == .notUTF8(field: 22))
        // A field of a wrong wire type inside a body (openChan's action as fixed32).
        #expect(failure([0x1A, 0x05, 0x1D, 0x00, 0x00, 0x00, 0x00]) == .wrongWireType(field: 3, sent: 5))
    }

    @Test("nesting stops at the reader's limit")
    func nesting() throws {
        var bytes: [UInt8] = []
        for _ in 0..<40 { bytes = [0x0A, UInt8(bytes.count)] + bytes }
        let depth = bytes.withUnsafeBytes { raw -> Int in
            var reader = ProtobufReader(raw)
            var depth = 0
            while (try? reader.nextField()) == 1, let inner = try? reader.message() {
                reader = inner
                depth += 1
            }
            return depth
        }
        #expect(depth == ProtobufReader.maxDepth)
    }

    @Test("a message that does not fit its buffer is refused, at any field")
    func noRoom() {
        var command = API.Command(channel: 1)
        command.body = .output(WireBytes([UInt8](repeating: 0x41, count: 100)))
        for capacity in [0, 1, 2, 50, 102] {
            #expect(throws: ProtobufError.noRoom(capacity: capacity)) { try encode(command, capacity: capacity) }
        }
        #expect((try? encode(command, capacity: 105)) != nil)
    }

    @Test("a streamed file's head and content read as one Command; a write's head is found in its first bytes")
    func streamedFileContent() throws {
        let content = [UInt8]((0..<300).map { UInt8(truncatingIfNeeded: $0) })
        var buffer = [UInt8](repeating: 0, count: 128)
        let headCount = try buffer.withUnsafeMutableBytes { raw in
            try StreamedFileContent.writeHead(channel: 3, session: -2, ref: "r1", field: StreamedFileContent.fileField,
                                              path: "/p", contentLength: UInt64(content.count), into: raw)
        }
        let message = Array(buffer[0..<headCount]) + content
        #expect(try decoded(message) { command in
            guard case .file(let file)? = command.body else { return false }
            return command.channel == 3 && command.session == -2 && command.ref == "r1" && file.path == "/p"
                && file.type == .regular && file.content.bytes == content
        })

        // A write as protobuf libraries write it: channel, session, the body, then ref.
        var write = API.Command(channel: 5, session: 1, ref: "w")
        write.body = .write(API.File(path: "/q", content: WireBytes(content)))
        let bytes = try encode(write)
        let head = try bytes.withUnsafeBytes { raw in try StreamedFileContent.readWriteHead(UnsafeRawBufferPointer(rebasing: raw[0..<40])) }
        #expect(head?.channel == 5 && head?.session == 1 && head?.ref.isEmpty == true && head?.path == "/q")
        #expect(head.map { Array(bytes[$0.contentOffset..<($0.contentOffset + 300)]) } == content)
        #expect(head?.contentLength == 300)

        // Not a streamed write: the content fits the bytes at hand, or is not the File's
        // last field, or there is no write.
        #expect(try bytes.withUnsafeBytes { try StreamedFileContent.readWriteHead($0) } == nil)
        var notLast = API.Command(channel: 5)
        notLast.body = .write(API.File(path: "/q", type: .directory, content: WireBytes(content)))
        var reordered = try encode(notLast)
        let typeField: [UInt8] = [0x10, 0x01]  // File.type, moved behind the content
        reordered.removeSubrange(reordered.firstRange(of: typeField)!)
        reordered += typeField
        #expect(try reordered.withUnsafeBytes { try StreamedFileContent.readWriteHead(UnsafeRawBufferPointer(rebasing: $0[0..<40])) } == nil)
        #expect(try encode(API.Command(channel: 5, ref: "x")).withUnsafeBytes { try StreamedFileContent.readWriteHead($0) } == nil)
    }
}
