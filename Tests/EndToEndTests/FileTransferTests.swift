import DbgClient
import DbgWire
import Foundation
import Testing

extension LoggedIn {
    func readFile(_ path: String, offset: UInt64, size: UInt32) throws -> Dbg.FileChunk {
        try connection.call(service: ServiceID.dbg, op: Dbg.Op.readFile.rawValue,
                            Dbg.ReadFileRequest(token: WireBytes(token), path: WireBytes(path), offset: offset, size: size))
    }

    @discardableResult
    func writeFile(_ path: String, offset: UInt64, _ data: [UInt8], truncate: Bool = false, mode: UInt32 = 0) throws -> UInt32 {
        let result: Dbg.WriteFileResult = try connection.call(
            service: ServiceID.dbg, op: Dbg.Op.writeFile.rawValue,
            Dbg.WriteFileRequest(token: WireBytes(token), path: WireBytes(path), offset: offset, data: WireBytes(data),
                                 truncate: truncate, mode: mode))
        return result.written
    }

    /// Pulls a whole file with `window` chunk requests in flight; returns the bytes.
    func pull(_ path: String, chunk: UInt32, window: Int) throws -> [UInt8] {
        var data: [UInt8] = []
        var nextOffset: UInt64 = 0
        var inFlight: [UInt32: UInt64] = [:]
        var chunks: [UInt64: [UInt8]] = [:]
        var eofAt: UInt64?
        var id: UInt32 = 100
        while true {
            while inFlight.count < window && eofAt == nil {
                id += 1
                try connection.send(service: ServiceID.dbg, op: Dbg.Op.readFile.rawValue, id: id,
                                    Dbg.ReadFileRequest(token: WireBytes(token), path: WireBytes(path), offset: nextOffset, size: chunk))
                inFlight[id] = nextOffset
                nextOffset += UInt64(chunk)
            }
            if inFlight.isEmpty { break }
            let frame = try connection.receive()
            guard let offset = inFlight.removeValue(forKey: frame.header.id) else { throw AgentProcessError("stray frame \(frame.header)") }
            if let error = try frame.remoteError() { throw error }
            let piece = try frame.decode(Dbg.FileChunk.self)
            chunks[offset] = piece.data.bytes
            if piece.eof { eofAt = min(eofAt ?? .max, offset + UInt64(piece.data.count)) }
        }
        var offset: UInt64 = 0
        while let piece = chunks[offset], offset < (eofAt ?? 0) || piece.count > 0 {
            data += piece
            offset += UInt64(piece.count)
            if piece.isEmpty || offset >= (eofAt ?? .max) { break }
        }
        return data
    }

    /// Pushes bytes with `window` WriteFile requests in flight.
    func push(_ data: [UInt8], to path: String, chunk: Int, window: Int, mode: UInt32 = 0) throws {
        var offset = 0
        var inFlight = 0
        var id: UInt32 = 1000
        while offset < data.count || inFlight > 0 {
            while inFlight < window && offset < data.count {
                let end = min(offset + chunk, data.count)
                id += 1
                try connection.send(service: ServiceID.dbg, op: Dbg.Op.writeFile.rawValue, id: id, Dbg.WriteFileRequest(
                    token: WireBytes(token), path: WireBytes(path), offset: UInt64(offset), data: WireBytes(Array(data[offset..<end])),
                    truncate: offset == 0, mode: mode))
                offset = end
                inFlight += 1
            }
            let frame = try connection.receive()
            if let error = try frame.remoteError() { throw error }
            inFlight -= 1
        }
    }
}

func sha256(ofFile path: String) throws -> String {
    let child = try ChildProcess(["sha256sum", path])
    let text = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
    _ = child.waitForExit(timeout: 60)
    return String(text.prefix(64))
}

@Suite("ReadFile and WriteFile")
struct FileTransferTests {
    /// 256 MiB natively; 16 MiB under an emulator.
    static var bigSize: Int { AgentProcess.isEmulated ? 16 << 20 : 256 << 20 }

    @Test("a big random file pulled and pushed with 8 requests in flight arrives intact")
    func bigRoundTrip() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let source = fixture.home + "/big.bin"
        let make = try ChildProcess(["sh", "-c", "head -c \(Self.bigSize + 12345) /dev/urandom > '\(source)' && chmod 644 '\(source)'"])
        _ = make.waitForExit(timeout: 60)
        let pulled = try session.pull("big.bin", chunk: 256 << 10, window: 8)
        #expect(pulled.count == Self.bigSize + 12345)
        let local = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-pulled-\(UUID().uuidString.prefix(8))")
        try Data(pulled).write(to: local)
        defer { try? FileManager.default.removeItem(at: local) }
        #expect(try sha256(ofFile: local.path) == sha256(ofFile: source))
        try session.push(pulled, to: "copy.bin", chunk: 256 << 10, window: 8)
        #expect(try sha256(ofFile: fixture.home + "/copy.bin") == sha256(ofFile: source))
    }

    @Test("a windowed read of a missing file fails with NotFound and leaves the connection in step for the next windowed call")
    func failedReadKeepsStep() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let files = RemoteFiles(connection: session.connection, token: WireBytes(session.token))
        do {
            try files.read("missing.bin") { _ in }
            Issue.record("a missing file was read")
        } catch {
            guard case .remote(let code, _, _) = error else { throw error }
            #expect(code == .notFound)
        }
        let data = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var offset = 0
        try files.write("written.bin", truncate: true, mode: 0o644, from: { (buffer: UnsafeMutableRawBufferPointer) in
            let count = min(buffer.count, data.count - offset)
            data.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            offset += count
            return count
        })
        var back: [UInt8] = []
        try files.read("written.bin") { back += $0 }
        #expect(back == data)
    }

    @Test("odd chunk sizes, 1-byte chunks, exact-multiple ends and offsets past the end")
    func edges() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let data = (0..<(3 * 4096)).map { UInt8(truncatingIfNeeded: $0 * 13 + 1) }
        try session.writeFile("edges.bin", offset: 0, data, truncate: true)
        #expect(try session.pull("edges.bin", chunk: 4096, window: 3) == data)
        #expect(try session.pull("edges.bin", chunk: 1000, window: 4) == data)
        // Eof exactly at the end of an exact-multiple chunk.
        let last = try session.readFile("edges.bin", offset: 2 * 4096, size: 4096)
        #expect(last.data.count == 4096 && last.eof)
        let middle = try session.readFile("edges.bin", offset: 4096, size: 4096)
        #expect(middle.data.count == 4096 && !middle.eof)
        #expect(try session.readFile("edges.bin", offset: 1, size: 1).data.bytes == [data[1]])
        let past = try session.readFile("edges.bin", offset: 1 << 40, size: 10)
        #expect(past.data.isEmpty && past.eof)
        // 1-byte writes at the ends, and Truncate.
        try session.writeFile("edges.bin", offset: UInt64(data.count), [0xee])
        try session.writeFile("edges.bin", offset: 0, [0xdd])
        let whole = try session.pull("edges.bin", chunk: 1 << 20, window: 1)
        #expect(whole.count == data.count + 1 && whole.first == 0xdd && whole.last == 0xee)
        try session.writeFile("edges.bin", offset: 0, [1, 2, 3], truncate: true)
        #expect(try session.pull("edges.bin", chunk: 0, window: 1) == [1, 2, 3])
    }

    @Test("offsets above 4 GiB work (sparse file)")
    func bigOffsets() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let offset: UInt64 = (5 << 30) + 7
        try session.writeFile("sparse.bin", offset: offset, Array("tail".utf8), truncate: true)
        let chunk = try session.readFile("sparse.bin", offset: offset - 2, size: 100)
        #expect(chunk.data.bytes == [0, 0] + Array("tail".utf8) && chunk.eof)
    }

    @Test("as root, the user's permissions apply and created files are the user's, with the exact mode",
          .enabled(if: CommandFixture.isRoot))
    func permissions() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(throws: ClientError.remote(code: .denied, errno: EACCES, message: "permission denied: /etc/shadow")) {
            _ = try session.readFile("/etc/shadow", offset: 0, size: 0)
        }
        #expect(throws: ClientError.remote(code: .denied, errno: EACCES, message: "permission denied: /root/dbgd-test")) {
            try session.writeFile("/root/dbgd-test", offset: 0, [1])
        }
        try session.writeFile("mine.txt", offset: 0, Array("x".utf8), mode: 0o666)
        let attributes = try FileManager.default.attributesOfItem(atPath: fixture.home + "/mine.txt")
        #expect(attributes[.ownerAccountID] as? Int == Int(fixture.uid))
        #expect(attributes[.groupOwnerAccountID] as? Int == Int(fixture.gid))
        #expect(attributes[.posixPermissions] as? Int == 0o666)  // not masked by the agent's umask
        try session.writeFile("default.txt", offset: 0, Array("x".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.home + "/default.txt")[.posixPermissions] as? Int == 0o644)
    }

    @Test("errors: missing files, directories, bad paths, and a token is needed")
    func errors() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/missing")) {
            _ = try session.readFile("missing", offset: 0, size: 0)
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Path: is a directory: \(fixture.home)/sub")) {
            _ = try session.readFile("sub", offset: 0, size: 0)
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Path: empty")) {
            _ = try session.readFile("", offset: 0, size: 0)
        }
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "Path: contains a NUL byte")) {
            try session.writeFile("a\u{0}b", offset: 0, [1])
        }
        #expect(throws: ClientError.remote(code: .io, errno: EISDIR, message: "\(fixture.home)/sub: Is a directory")) {
            try session.writeFile("sub", offset: 0, [1])
        }
        let stranger = LoggedIn(connection: try agent.connect(), token: session.token)
        #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "the token belongs to another connection")) {
            _ = try stranger.readFile("edges.bin", offset: 0, size: 0)
        }
    }

    @Test("a full disk is IO/ENOSPC, and nothing is reported as written that was not", .enabled(if: CommandFixture.isRoot))
    func fullDisk() throws {
        let fixture = try CommandFixture()
        let mountPoint = fixture.home + "/small"
        let mount = try ChildProcess(["sh", "-c", "mkdir -p '\(mountPoint)' && mount -t tmpfs -o size=1m,mode=0777 tmpfs '\(mountPoint)'"])
        try #require(mount.waitForExit(timeout: 10) == 0, "root could not mount a tmpfs: the full disk was not tested")
        defer { _ = try? ChildProcess(["umount", mountPoint]).waitForExit(timeout: 10) }
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let chunk = [UInt8](repeating: 0x77, count: 256 << 10)
        var reported = 0
        var failure: ClientError?
        for index in 0..<8 {
            do {
                reported += Int(try session.writeFile("small/fill.bin", offset: UInt64(index * chunk.count), chunk))
            } catch let error as ClientError {
                failure = error
                break
            }
        }
        guard case .remote(let code, let errno, let message) = failure else {
            Issue.record("2 MiB fit on a 1 MiB file system")
            return
        }
        #expect(code == .io && errno == ENOSPC && message.contains("bytes: No space left on device"), "\(message)")
        let onDisk = try FileManager.default.attributesOfItem(atPath: mountPoint + "/fill.bin")[.size] as? Int ?? 0
        #expect(reported <= onDisk && reported <= 1 << 20)
    }

    @Test("a push cut off by a disconnect leaves what was written, and no descriptor behind")
    func interruptedPush() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        try session.writeFile("part.bin", offset: 0, [UInt8](repeating: 0xaa, count: 512 << 10), truncate: true)
        let descriptors = settledDescriptors(of: agent.pid).count
        let chunk = [UInt8](repeating: 0x55, count: 64 << 10)
        for index in 0..<4 { try session.writeFile("part.bin", offset: UInt64(index * chunk.count), chunk) }
        // A fifth chunk only half sent, then the connection is gone.
        let frame = Array(frameBytes(service: ServiceID.dbg, op: Dbg.Op.writeFile.rawValue, id: 9,
                                     payload: [UInt8](repeating: 0, count: 100)).prefix(60))
        try session.connection.sendRaw(frame)
        session.connection.shutdownSending()
        _ = session.connection.framesUntilClosed()
        usleep(200_000)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fixture.home + "/part.bin")))
        #expect(bytes.count == 512 << 10)
        #expect(bytes[0..<(4 * chunk.count)].allSatisfy { $0 == 0x55 } && bytes[(4 * chunk.count)...].allSatisfy { $0 == 0xaa })
        #expect(settledDescriptors(of: agent.pid).count <= descriptors)
    }
}
