import DbgClient
import DbgWire
import Foundation
import Testing

/// Regression tests for what a hostile black-box test found in the file ops: offsets
/// that killed the agent, FIFOs that froze it or parked its workers, procfs magic links
/// past directory permissions, and files that report no size.
@Suite("Hardening: file ops", .needs("file-ops"))
struct HardeningFileTests {
    static let offsets: [UInt64] = [1 << 63, UInt64.max, UInt64(Int64.max)]

    @Test("WriteFile, Hash and ReadFile offsets at and past 2^63 are BadRequest naming the field; the agent lives on",
          arguments: offsets)
    func hugeOffsets(_ offset: UInt64) throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        for path in ["new.bin", "file.txt"] {
            let message = try refusal(.badRequest) {
                _ = try session.writeFile(path, offset: offset, [1, 2, 3])
            }
            #expect(message.hasPrefix("Offset:"), "\(message)")
        }
        let limit = UInt64(Int64.max)
        for (hashOffset, length) in [(offset, UInt64(0)), (1, offset), (offset, 1)]
        where hashOffset > limit || length > limit - hashOffset {
            let message = try refusal(.badRequest) {
                let _: Dbg.HashResult = try session.fileOp(.hash, Dbg.HashRequest(token: session.wireToken, path: "file.txt",
                                                                                   offset: hashOffset, length: length))
            }
            #expect(message.hasPrefix("Offset:") || message.hasPrefix("Length:"), "\(message)")
        }
        if offset > UInt64(Int64.max) {
            #expect(try refusal(.badRequest) { _ = try session.readFile("file.txt", offset: offset, size: 10) }.hasPrefix("Offset:"))
        } else {
            #expect(try session.readFile("file.txt", offset: offset, size: 10).eof)
        }
        #expect(agent.isRunning)
        #expect(try session.connection.ping([7]) == [7])
    }

    @Test("Mode beyond 07777 and a ListDir Cookie beyond 2^63 - 1 are BadRequest naming the field")
    func otherRanges() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(try refusal(.badRequest) { _ = try session.writeFile("m.bin", offset: 0, [1], mode: 0o10644) }.hasPrefix("Mode:"))
        #expect(try refusal(.badRequest) {
            let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "d", mode: .max, parents: false))
        }.hasPrefix("Mode:"))
        #expect(try refusal(.badRequest) {
            let _: Dbg.DirPage = try session.fileOp(.listDir, Dbg.ListDirRequest(token: session.wireToken, path: "sub", cookie: .max))
        }.hasPrefix("Cookie:"))
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/m.bin") && !FileManager.default.fileExists(atPath: fixture.home + "/d"))
        #expect(try session.writeFile("m.bin", offset: 0, [1], mode: 0o4755) == 1)
    }

    @Test("Mkdir with Parents of a 2,000-level path walks it once: other connections are answered meanwhile")
    func deepMkdir() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let witness = try agent.connect()
        let deep = String(repeating: "d/", count: 2000) + "end"
        try session.connection.send(service: ServiceID.dbg, op: Dbg.Op.mkdir.rawValue, id: 9,
                                    Dbg.MkdirRequest(token: session.wireToken, path: WireBytes(deep), mode: 0, parents: true))
        let start = Date()
        #expect(try witness.ping([1]) == [1])
        // Walking the prefixes one by one took millions of system calls on the loop.
        #expect(Date().timeIntervalSince(start) < 1, "a ping waited \(Date().timeIntervalSince(start)) s")
        let answer = try session.connection.receive()
        #expect(answer.header.id == 9 && answer.header.kind == .response)
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: fixture.home + "/" + deep, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    @Test("Hashes of a huge sparse file stop when their client leaves: the file workers serve the next one")
    func abandonedHashes() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        // 1 TiB of holes: hashing it takes the better part of an hour.
        let huge = fixture.home + "/sparse.bin"
        #expect(FileManager.default.createFile(atPath: huge, contents: nil))
        #expect(truncate(huge, 1 << 40) == 0)
        if CommandFixture.isRoot { chown(huge, fixture.uid, fixture.gid) }
        do {
            let leaver = try fixture.login(agent)
            for id in UInt32(1)...2 {  // one per file worker
                try leaver.connection.send(service: ServiceID.dbg, op: Dbg.Op.hash.rawValue, id: id,
                                           Dbg.HashRequest(token: leaver.wireToken, path: "sparse.bin", offset: 0, length: 0))
            }
            Thread.sleep(forTimeInterval: 0.5)  // both are running
        }  // the connection closes here
        let session = try fixture.login(agent)
        let started = Date()
        let result: Dbg.HashResult = try session.fileOp(.hash, Dbg.HashRequest(token: session.wireToken, path: "file.txt",
                                                                                 offset: 0, length: 0))
        #expect(result.digest.count == 32)
        #expect(Date().timeIntervalSince(started) < 10, "the next Hash waited \(Date().timeIntervalSince(started)) s")
    }

    @Test("ReadFile, WriteFile and Hash of a FIFO nobody opens are refused at once; everyone else is served meanwhile")
    func fifo() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        #expect(mkfifo(fixture.home + "/pipe", 0o666) == 0)
        if CommandFixture.isRoot { chown(fixture.home + "/pipe", fixture.uid, fixture.gid) }
        let started = Date()
        for _ in 0..<4 {  // four Hashes used to park all four workers
            #expect(try refusal(.badRequest) {
                let _: Dbg.HashResult = try session.fileOp(.hash, Dbg.HashRequest(token: session.wireToken, path: "pipe",
                                                                                   offset: 0, length: 0))
            }.contains("is a FIFO"))
        }
        #expect(try refusal(.badRequest) { _ = try session.readFile("pipe", offset: 0, size: 10) }.contains("is a FIFO"))
        #expect(try refusal(.badRequest) { _ = try session.writeFile("pipe", offset: 0, [1]) }.contains("is a FIFO"))
        #expect(Date().timeIntervalSince(started) < 5)
        // A symlink to the FIFO is the FIFO.
        try FileManager.default.createSymbolicLink(atPath: fixture.home + "/link", withDestinationPath: fixture.home + "/pipe")
        #expect(try refusal(.badRequest) { _ = try session.readFile("link", offset: 0, size: 10) }.contains("is a FIFO"))
        // Logging in still works: nothing holds the authentication workers.
        _ = try fixture.login(agent)
        #expect(try agent.connect().ping([1]) == [1])
    }

    @Test("ReadFile of files that report no size reads their content: /proc, character devices")
    func unsizedFiles() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let local = try String(contentsOfFile: "/proc/version", encoding: .utf8)
        let version = try session.readFile("/proc/version", offset: 0, size: 0)
        #expect(version.data.string == local && version.eof)
        // Content beyond one page of a seq_file, read in one chunk of 1 MiB at most.
        let cpuinfo = try session.readFile("/proc/cpuinfo", offset: 0, size: 1 << 20)
        #expect(cpuinfo.data.count > 0 && cpuinfo.eof && cpuinfo.data.string.contains("processor"))
        let zeros = try session.readFile("/dev/zero", offset: 0, size: 100_000)
        #expect(zeros.data.count == 100_000 && zeros.data.bytes.allSatisfy { $0 == 0 } && !zeros.eof)
        #expect(try session.readFile("/dev/null", offset: 0, size: 10).eof)
        // WriteFile to a character device.
        #expect(try session.writeFile("/dev/null", offset: 0, [1, 2, 3]) == 3)
        // Hashing a character device would never end.
        #expect(try refusal(.badRequest) {
            let _: Dbg.HashResult = try session.fileOp(.hash, Dbg.HashRequest(token: session.wireToken, path: "/dev/zero",
                                                                               offset: 0, length: 0))
        }.contains("character device"))
    }

    @Test("/proc/self/fd, /proc/thread-self and /proc/<agent> do not reach the agent's open files",
          .enabled(if: CommandFixture.isRoot, "needs a root agent serving two users"))
    func procMagicLinks() throws {
        let fixture = try CommandFixture()
        let secretDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-secret-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: secretDirectory, withIntermediateDirectories: false)
        chmod(secretDirectory, 0o700)
        try "root's secret\n".write(toFile: secretDirectory + "/f", atomically: false, encoding: .utf8)
        chmod(secretDirectory + "/f", 0o644)
        defer { try? FileManager.default.removeItem(atPath: secretDirectory) }
        let accounts = try TestAccounts([TestUser(name: "runner", uid: fixture.uid, password: "run", homeDirectory: fixture.home),
                                         TestUser(name: "boss", uid: 0, password: "root", homeDirectory: "/root")])
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let root = try agent.connect()
        let rootToken = try root.authenticate(user: "boss", password: "root").token.string
        let rootSession = LoggedIn(connection: root, token: rootToken)
        // Root reads a little of the file: its descriptor stays in the agent's cache.
        #expect(try rootSession.readFile(secretDirectory + "/f", offset: 0, size: 4).data.string == "root")
        let user = try agent.connect()
        let session = LoggedIn(connection: user, token: try user.authenticate(user: "runner", password: "run").token.string)
        #expect(throws: ClientError.self) { _ = try session.readFile(secretDirectory + "/f", offset: 0, size: 100) }
        try FileManager.default.createSymbolicLink(atPath: fixture.home + "/fds", withDestinationPath: "/proc/self/fd")
        var leaked: [String] = []
        for directory in ["/proc/self/fd", "/proc/thread-self/fd", "/proc/\(agent.pid)/fd", "fds", "/proc/\(agent.pid)/task/\(agent.pid)/fd"] {
            for fd in 0..<48 {
                let path = "\(directory)/\(fd)"
                if let chunk = try? session.readFile(path, offset: 0, size: 100), chunk.data.string.contains("secret") {
                    leaked.append(path)
                }
            }
        }
        #expect(leaked.isEmpty, "read root's file through \(leaked)")
        for path in ["/proc/self/fd", "/proc/\(agent.pid)/cwd", "/proc/self/root/\(secretDirectory)/f", "/proc/self/environ"] {
            #expect(throws: ClientError.self, "\(path)") { _ = try session.readFile(path, offset: 0, size: 100) }
        }
        #expect(throws: ClientError.self) {
            let _: Dbg.DirPage = try session.fileOp(.listDir, Dbg.ListDirRequest(token: session.wireToken, path: "/proc/self/fd", cookie: 0))
        }
        // Where another user's process's magic links point is not the user's business
        // either (pid 1 is root's here): by hand, ls /proc/1/root is "permission denied".
        #expect(throws: ClientError.self) {
            let _: Dbg.DirPage = try session.fileOp(.listDir, Dbg.ListDirRequest(token: session.wireToken, path: "/proc/1/root", cookie: 0))
        }
        #expect(throws: ClientError.self) { _ = try session.readFile("/proc/1/cwd/\(secretDirectory)/f", offset: 0, size: 10) }
        // A working directory is looked at as the user too: what lies behind root's 0700
        // directory, there or not, is only "permission denied".
        for cwd in [secretDirectory + "/f", secretDirectory + "/nothing"] {
            #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "Cwd: permission denied")) {
                _ = try session.run("true", cwd: cwd)
            }
        }
        // What a user can read by hand stays readable, symlinks included.
        #expect(try session.readFile("/proc/version", offset: 0, size: 0).data.count > 0)
        #expect(try session.readFile("/proc/1/../version", offset: 0, size: 0).data.count > 0)
        try FileManager.default.createSymbolicLink(atPath: fixture.home + "/ver", withDestinationPath: "/proc/version")
        #expect(try session.readFile("ver", offset: 0, size: 0).data.count > 0)
    }

    /// The message of the error `body` throws, which must have `code`.
    private func refusal(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) throws -> String {
        do {
            try body()
        } catch let ClientError.remote(actual, _, message) {
            #expect(actual == code, "\(message)", sourceLocation: sourceLocation)
            return message
        }
        Issue.record("expected \(code), got an answer", sourceLocation: sourceLocation)
        return ""
    }
}
