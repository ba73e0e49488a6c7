import DbgClient
import DbgWire
import Foundation
import Testing

@Suite("dbg client: files", .needs("file-ops"))
struct ClientFileTests {
    private func localFile(_ bytes: Int, in directory: String) throws -> String {
        let path = directory + "/local-\(UUID().uuidString.prefix(6)).bin"
        let make = try ChildProcess(["sh", "-c", "head -c \(bytes) /dev/urandom > '\(path)'"])
        _ = make.waitForExit(timeout: 60)
        return path
    }

    private func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-client-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a 64 MiB push and pull with --verify, modes kept")
    func pushAndPull() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let local = try scratch()
        let source = try localFile(AgentProcess.isEmulated ? 8 << 20 : 64 << 20, in: local)
        chmod(source, 0o640)
        let pushed = try dbg.run(["push", "--verify", source, "big.bin"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(try sha256(ofFile: fixture.home + "/big.bin") == sha256(ofFile: source))
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.home + "/big.bin")[.posixPermissions] as? Int == 0o640)
        let pulled = try dbg.run(["pull", "--verify", "--json", "big.bin", local + "/back.bin"])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(pulled.stdout)) as? [String: Any]
        #expect(report?["source"] as? String == "big.bin" && report?["target"] as? String == local + "/back.bin")
        #expect(report?["bytes"] as? Int == (AgentProcess.isEmulated ? 8 << 20 : 64 << 20) && report?["verified"] as? Bool == true)
        #expect(try sha256(ofFile: local + "/back.bin") == sha256(ofFile: source))
        #expect(try FileManager.default.attributesOfItem(atPath: local + "/back.bin")[.posixPermissions] as? Int == 0o640)
        #expect(pushed.stderr.isEmpty && pulled.stderr.isEmpty)  // no progress line when stderr is not a terminal
    }

    @Test("a verified push checks every piece the board hashed: sizes on and off the 8 MiB pieces, empty, resumed")
    func verifiedPieces() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let local = try scratch()
        for size in [0, 1, (8 << 20) - 1, 8 << 20, (16 << 20) + 777] {
            let source = try localFile(size, in: local)
            let pushed = try dbg.run(["push", "--verify", "--json", source, "piece.bin"])
            #expect(pushed.status == 0 && pushed.out.contains(#""verified":true"#), "\(size): \(pushed.stderr)")
            #expect(try sha256(ofFile: fixture.home + "/piece.bin") == sha256(ofFile: source), "\(size)")
        }
        // A resumed copy: the part there is checked whole, the rest piece by piece.
        let source = try localFile((8 << 20) + 5000, in: local)
        let part = fixture.home + "/.resumed.bin.dbg-part"
        let head = try FileHandle(forReadingFrom: URL(fileURLWithPath: source)).readData(ofLength: 3 << 20)
        try head.write(to: URL(fileURLWithPath: part))
        chown(part, fixture.uid, fixture.uid)
        let resumed = try dbg.run(["push", "--verify", "--resume", "--json", source, "resumed.bin"])
        #expect(resumed.status == 0 && resumed.out.contains(#""resumed_from":3145728"#), "\(resumed.out) \(resumed.stderr)")
        #expect(try sha256(ofFile: fixture.home + "/resumed.bin") == sha256(ofFile: source))
    }

    @Test("a push killed halfway leaves nothing under the final name; --resume then finishes it")
    func atomicityAndResume() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let local = try scratch()
        let source = try localFile(AgentProcess.isEmulated ? 8 << 20 : 32 << 20, in: local)
        // Small chunks, one in flight: slow enough to be killed in the middle.
        let quoted = [DbgTool.binary, "push", "--chunk-kib", "16", "--window", "1", source, "final.bin"]
            .map { "'\($0)'" }.joined(separator: " ")
        let child = try ChildProcess(["sh", "-c", "exec " + quoted], environment: dbg.environment)
        let partial = fixture.home + "/.final.bin.dbg-part"
        var started = false
        for _ in 0..<500 where !started {
            started = ((try? FileManager.default.attributesOfItem(atPath: partial)[.size]) as? Int ?? 0) > 1 << 20
            if !started { usleep(10_000) }
        }
        child.signal(SIGKILL)
        _ = child.waitForExit(timeout: 10)
        #expect(started)
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/final.bin"))
        let resumed = try dbg.run(["push", "--resume", "--verify", "--json", source, "final.bin"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(resumed.stdout)) as? [String: Any]
        #expect((report?["resumed_from"] as? Int ?? 0) > 1 << 20 && report?["verified"] as? Bool == true)
        #expect(try sha256(ofFile: fixture.home + "/final.bin") == sha256(ofFile: source))
        #expect(!FileManager.default.fileExists(atPath: partial))
    }

    @Test("directories push and pull recursively with their modes")
    func directories() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        let local = try scratch()
        let tree = try ChildProcess(["sh", "-c", "cd '\(local)' && mkdir -p tree/sub/deeper && echo one > tree/one.txt && "
            + "printf 'two' > tree/sub/two.txt && head -c 3000 /dev/urandom > tree/sub/deeper/three.bin && "
            + "chmod 700 tree/sub && chmod 600 tree/one.txt && chmod 755 tree/sub/deeper/three.bin"])
        _ = tree.waitForExit(timeout: 10)
        #expect(try dbg.run(["push", local + "/tree", "copy"]).status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: fixture.home + "/copy/sub")[.posixPermissions] as? Int == 0o700)
        #expect(try String(contentsOfFile: fixture.home + "/copy/sub/two.txt", encoding: .utf8) == "two")
        #expect(try dbg.run(["pull", "copy", local + "/back"]).status == 0)
        let diff = try ChildProcess(["diff", "-r", local + "/tree", local + "/back"])
        #expect(diff.waitForExit(timeout: 10) == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: local + "/back/one.txt")[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: local + "/back/sub/deeper/three.bin")[.posixPermissions] as? Int == 0o755)
    }

    @Test("ls, stat, mkdir, rm, mv, cat and hash, plain and as JSON")
    func fileCommands() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let dbg = DbgTool(agent)
        #expect(try dbg.run(["mkdir", "-p", "x/y"]).status == 0)
        #expect(try dbg.run(["ls"]).out.split(separator: "\n").contains("x"))
        let listing = try JSONSerialization.jsonObject(with: Data(try dbg.run(["ls", "--json", "x"]).stdout)) as? [[String: Any]]
        #expect(listing?.first?["name"] as? String == "y" && listing?.first?["type"] as? String == "directory")
        #expect(try dbg.run(["stat", "file.txt"]).out.contains("file.txt: file, mode"))
        #expect(try dbg.run(["cat", "file.txt"]).out == "a file\n")
        let hash = try dbg.run(["hash", "file.txt"]).out
        #expect(hash == (try sha256(ofFile: fixture.home + "/file.txt")) + "  file.txt\n")
        #expect(try dbg.run(["mv", "file.txt", "x/moved.txt"]).status == 0)
        #expect(try dbg.run(["cat", "x/moved.txt"]).out == "a file\n")
        let missing = try dbg.run(["cat", "file.txt"])
        #expect(missing.status == 1 && missing.stderr.hasPrefix("dbg: cat file.txt: NotFound"))
        #expect(try dbg.run(["rm", "x"]).status == 1)
        #expect(try dbg.run(["rm", "-r", "x"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: fixture.home + "/x"))
    }
}
