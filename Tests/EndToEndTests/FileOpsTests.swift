import DbgClient
import DbgWire
import Foundation
import Testing

extension LoggedIn {
    func fileOp<Request: WireCodable, Response: WireCodable>(_ op: Dbg.Op, _ request: Request,
                                                            as _: Response.Type = Response.self) throws -> Response {
        try connection.call(service: ServiceID.dbg, op: op.rawValue, request)
    }

    var wireToken: WireBytes { WireBytes(token) }
}

@Suite("File extension ops", .needs("file-ops"))
struct FileOpsTests {
    @Test("Stat describes files, directories and symlinks (not followed)")
    func stat() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let file: Dbg.FileInfo = try session.fileOp(.stat, Dbg.PathRequest(token: session.wireToken, path: "file.txt"))
        #expect(file.type == Dbg.FileType.regular.rawValue && file.size == 7 && file.uid == (CommandFixture.isRoot ? fixture.uid : getuid()))
        let directory: Dbg.FileInfo = try session.fileOp(.stat, Dbg.PathRequest(token: session.wireToken, path: "sub"))
        #expect(directory.type == Dbg.FileType.directory.rawValue)
        try FileManager.default.createSymbolicLink(atPath: fixture.home + "/link", withDestinationPath: "/etc")
        let link: Dbg.FileInfo = try session.fileOp(.stat, Dbg.PathRequest(token: session.wireToken, path: "link"))
        #expect(link.type == Dbg.FileType.symlink.rawValue)
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/nope")) {
            let _: Dbg.FileInfo = try session.fileOp(.stat, Dbg.PathRequest(token: session.wireToken, path: "nope"))
        }
    }

    @Test("ListDir pages through 10,000 entries, each once")
    func listLargeDirectory() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let make = try ChildProcess(["sh", "-c", "mkdir '\(fixture.home)/many' && cd '\(fixture.home)/many' && seq -f 'entry-%05g' 1 10000 | xargs touch"])
        #expect(make.waitForExit(timeout: 60) == 0)
        var names: [String] = []
        var cookie: UInt64 = 0
        var pages = 0
        while true {
            let page: Dbg.DirPage = try session.fileOp(.listDir, Dbg.ListDirRequest(token: session.wireToken, path: "many", cookie: cookie))
            names += page.entries.map { $0.name.string }
            pages += 1
            if page.done { break }
            cookie = page.nextCookie
        }
        #expect(pages > 1)
        #expect(names.count == 10_000 && Set(names).count == 10_000)
        #expect(names.contains("entry-00001") && names.contains("entry-10000"))
        #expect(throws: ClientError.self) {
            let _: Dbg.DirPage = try session.fileOp(.listDir, Dbg.ListDirRequest(token: session.wireToken, path: "file.txt", cookie: 0))
        }
    }

    @Test("Mkdir with and without parents, exact modes; Exists when it is there")
    func mkdir() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "a/b/c", mode: 0o750, parents: true))
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.home + "/a/b/c")[.posixPermissions] as? Int == 0o750)
        let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "a/b/c", mode: 0, parents: true))
        let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "plain", mode: 0, parents: false))
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.home + "/plain")[.posixPermissions] as? Int == 0o755)
        #expect(throws: ClientError.remote(code: .exists, errno: EEXIST, message: "already exists: \(fixture.home)/plain")) {
            let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "plain", mode: 0, parents: false))
        }
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/x/y")) {
            let _: Empty = try session.fileOp(.mkdir, Dbg.MkdirRequest(token: session.wireToken, path: "x/y", mode: 0, parents: false))
        }
    }

    @Test("Remove: files, empty and (recursively) full directories; symlinks are removed, never followed")
    func remove() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-outside-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep".write(toFile: outside + "/keep.txt", atomically: true, encoding: .utf8)
        let tree = try ChildProcess(["sh", "-c", "mkdir -p '\(fixture.home)/tree/x/y' && touch '\(fixture.home)/tree/x/y/f' && "
            + "ln -s '\(outside)' '\(fixture.home)/tree/x/out' && chown -R \(fixture.uid) '\(fixture.home)/tree'"])
        #expect(tree.waitForExit(timeout: 10) == 0)
        #expect(throws: ClientError.self) {
            let _: Empty = try session.fileOp(.remove, Dbg.RemoveRequest(token: session.wireToken, path: "tree", recursive: false))
        }
        let _: Empty = try session.fileOp(.remove, Dbg.RemoveRequest(token: session.wireToken, path: "tree", recursive: true))
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/tree"))
        #expect(FileManager.default.fileExists(atPath: outside + "/keep.txt"))
        let _: Empty = try session.fileOp(.remove, Dbg.RemoveRequest(token: session.wireToken, path: "file.txt", recursive: false))
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/file.txt"))
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/file.txt")) {
            let _: Empty = try session.fileOp(.remove, Dbg.RemoveRequest(token: session.wireToken, path: "file.txt", recursive: false))
        }
        if CommandFixture.isRoot {
            #expect(throws: ClientError.remote(code: .denied, errno: EACCES, message: "permission denied: \(outside)/keep.txt")) {
                let _: Empty = try session.fileOp(.remove, Dbg.RemoveRequest(token: session.wireToken, path: WireBytes(outside + "/keep.txt"),
                                                                              recursive: false))
            }
        }
    }

    @Test("Rename with and without replacing: files (synced on a worker first) and directories")
    func rename() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        try session.writeFile("one", offset: 0, Array("1".utf8))
        try session.writeFile("two", offset: 0, Array("2".utf8))
        #expect(throws: ClientError.remote(code: .exists, errno: EEXIST, message: "already exists: \(fixture.home)/two")) {
            let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "one", to: "two", replace: false))
        }
        let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "one", to: "two", replace: true))
        #expect(try String(contentsOfFile: fixture.home + "/two", encoding: .utf8) == "1")
        let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "two", to: "three", replace: false))
        #expect(try session.pull("three", chunk: 0, window: 1) == Array("1".utf8))
        #expect(throws: ClientError.remote(code: .badRequest, errno: 0, message: "To: empty")) {
            let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "three", to: "", replace: false))
        }
        let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "sub", to: "moved", replace: false))
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: fixture.home + "/moved", isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/sub"))
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/elsewhere")) {
            let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "gone", to: "elsewhere", replace: false))
        }
        #expect(throws: ClientError.remote(code: .notFound, errno: ENOENT, message: "no such file or directory: \(fixture.home)/no/dir")) {
            let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "three", to: "no/dir", replace: false))
        }
        #expect(FileManager.default.fileExists(atPath: fixture.home + "/three"))
        // The user may move a file it cannot read, within a directory it cannot list.
        chmod(fixture.home + "/three", 0o200)
        chmod(fixture.home + "/moved", 0o300)
        let _: Empty = try session.fileOp(.rename, Dbg.RenameRequest(token: session.wireToken, from: "three", to: "moved/four", replace: false))
        chmod(fixture.home + "/moved", 0o700)
        #expect(FileManager.default.fileExists(atPath: fixture.home + "/moved/four"))
    }

    @Test("Hash is SHA-256 of the whole file or a range, and other traffic goes on meanwhile")
    func hash() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let session = try fixture.login(agent)
        let size = AgentProcess.isEmulated ? 8 << 20 : 64 << 20
        let make = try ChildProcess(["sh", "-c", "head -c \(size) /dev/urandom > '\(fixture.home)/h.bin' && chmod 644 '\(fixture.home)/h.bin'"])
        _ = make.waitForExit(timeout: 60)
        try session.connection.send(service: ServiceID.dbg, op: Dbg.Op.hash.rawValue, id: 77,
                                    Dbg.HashRequest(token: session.wireToken, path: "h.bin", offset: 0, length: 0))
        #expect(try session.connection.ping([5]) == [5])  // answered while the hash runs
        var answer: ReceivedFrame?
        while answer == nil {
            let frame = try session.connection.receive()
            if frame.header.id == 77 { answer = frame }
        }
        let whole = try answer!.decode(Dbg.HashResult.self)
        #expect(whole.length == UInt64(size))
        #expect(whole.digest.bytes.map { String(format: "%02x", $0) }.joined() == (try sha256(ofFile: fixture.home + "/h.bin")))
        let range: Dbg.HashResult = try session.fileOp(.hash, Dbg.HashRequest(token: session.wireToken, path: "file.txt", offset: 2, length: 3))
        #expect(range.length == 3)
        let expected = try ChildProcess(["sh", "-c", "tail -c +3 '\(fixture.home)/file.txt' | head -c 3 | sha256sum"])
        let text = String(decoding: expected.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(range.digest.bytes.map { String(format: "%02x", $0) }.joined() == String(text.prefix(64)))
    }
}
