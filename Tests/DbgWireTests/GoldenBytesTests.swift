import DbgWire
import Testing

/// Every message's bytes as docs/PROTOCOL.md lays them out, spelled here field by field
/// from its tables (not by the encoder): the encoder must write exactly these, and the
/// decoder must read them back. Round trips cannot catch a field order that encode and
/// decode get wrong the same way; these can.
@Suite("Golden bytes from PROTOCOL.md")
struct GoldenBytesTests {
    // Hand spellings of the wire types (section 2).
    static func u8(_ value: UInt8) -> [UInt8] { [value] }
    static func u32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func i32(_ value: Int32) -> [UInt8] { u32(UInt32(bitPattern: value)) }
    static func u64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) } }
    static func int(_ value: Int64) -> [UInt8] { u64(UInt64(bitPattern: value)) }
    static func bool(_ value: Bool) -> [UInt8] { [value ? 1 : 0] }
    static func string(_ text: String) -> [UInt8] { bytes(Array(text.utf8)) }
    static func bytes(_ data: [UInt8]) -> [UInt8] { u32(UInt32(data.count)) + data }

    static let cases: [(MessageSample, [UInt8])] = [
        (MessageSample(Empty()), []),
        (MessageSample(ErrorPayload(code: .io, errno: -28, message: "full")),
         u32(ErrorCode.io.rawValue) + i32(-28) + string("full")),
        // Control (section 5)
        (MessageSample(Control.HelloRequest(version: 1, maxFrame: 0x10_0000, client: "dbg")),
         u32(1) + u32(0x10_0000) + string("dbg")),
        (MessageSample(Control.HelloResponse(version: 1, maxFrame: 4096, agent: "a", services: [0, 0x60], features: "x=1")),
         u32(1) + u32(4096) + string("a") + u32(2) + u32(0) + u32(0x60) + string("x=1")),
        (MessageSample(Control.Ping(data: WireBytes([9, 8]))), bytes([9, 8])),
        // dbg (section 6)
        (MessageSample(Dbg.AuthRequest(username: "root", password: "pw")), string("root") + string("pw")),
        (MessageSample(Dbg.SessionInfo(token: "tok", username: "u", uid: 1000, gid: 100, home: "/h", shell: "/bin/sh")),
         string("tok") + string("u") + u32(1000) + u32(100) + string("/h") + string("/bin/sh")),
        (MessageSample(Dbg.SessionToken(token: "tok")), string("tok")),
        (MessageSample(Dbg.ExecRequest(token: "t", command: "id", cwd: "/", timeoutSec: -3)),
         string("t") + string("id") + string("/") + i32(-3)),
        (MessageSample(Dbg.ExecResult(exitCode: -1, stdout: WireBytes([1]), stderr: WireBytes([2, 3]), stdoutTruncated: true,
                                      stderrTruncated: false)),
         int(-1) + bytes([1]) + bytes([2, 3]) + bool(true) + bool(false)),
        (MessageSample(Dbg.ShellOpenRequest(token: "t", cwd: "c", rows: 24, cols: 80)),
         string("t") + string("c") + int(24) + int(80)),
        (MessageSample(ShellSession(sessionID: 0x0102_0304)), u32(0x0102_0304)),
        (MessageSample(Dbg.ShellInputRequest(token: "t", sessionID: 5, data: WireBytes([0x0d]))),
         string("t") + u32(5) + bytes([0x0d])),
        (MessageSample(Dbg.ShellResizeRequest(token: "t", sessionID: 5, rows: 50, cols: 132)),
         string("t") + u32(5) + int(50) + int(132)),
        (MessageSample(Dbg.ShellCloseRequest(token: "t", sessionID: 5)), string("t") + u32(5)),
        (MessageSample(ShellOutputEvent(sessionID: 5, data: WireBytes([0x41]))), u32(5) + bytes([0x41])),
        (MessageSample(ShellExitEvent(sessionID: 5, exitCode: 130)), u32(5) + int(130)),
        (MessageSample(Dbg.ReadFileRequest(token: "t", path: "p", offset: 1 << 33, size: 65536)),
         string("t") + string("p") + u64(1 << 33) + u32(65536)),
        (MessageSample(Dbg.FileChunk(data: WireBytes([7, 7]), eof: true)), bytes([7, 7]) + bool(true)),
        (MessageSample(Dbg.WriteFileRequest(token: "t", path: "p", offset: 512, data: WireBytes([1]), truncate: true, mode: 0o600)),
         string("t") + string("p") + u64(512) + bytes([1]) + bool(true) + u32(0o600)),
        (MessageSample(Dbg.WriteFileResult(written: 4096)), u32(4096)),
        // dbg file extensions (section 6, Files)
        (MessageSample(Dbg.PathRequest(token: "t", path: "p")), string("t") + string("p")),
        (MessageSample(Dbg.FileInfo(type: 1, mode: 0o644, uid: 1, gid: 2, size: 10, mtime: -5)),
         u32(1) + u32(0o644) + u32(1) + u32(2) + u64(10) + int(-5)),
        (MessageSample(Dbg.ListDirRequest(token: "t", path: "p", cookie: 77)), string("t") + string("p") + u64(77)),
        (MessageSample(Dbg.DirPage(entries: [Dbg.DirEntry(name: "a", type: 2, mode: 0o755, size: 0, mtime: 9)],
                                   nextCookie: 3, done: true)),
         u32(1) + string("a") + u32(2) + u32(0o755) + u64(0) + int(9) + u64(3) + bool(true)),
        (MessageSample(Dbg.MkdirRequest(token: "t", path: "p", mode: 0o700, parents: true)),
         string("t") + string("p") + u32(0o700) + bool(true)),
        (MessageSample(Dbg.RemoveRequest(token: "t", path: "p", recursive: false)), string("t") + string("p") + bool(false)),
        (MessageSample(Dbg.RenameRequest(token: "t", from: "a", to: "b", replace: true)),
         string("t") + string("a") + string("b") + bool(true)),
        (MessageSample(Dbg.HashRequest(token: "t", path: "p", offset: 1, length: 2)),
         string("t") + string("p") + u64(1) + u64(2)),
        (MessageSample(Dbg.HashResult(digest: WireBytes([UInt8](repeating: 0xee, count: 32)), length: 5)),
         bytes([UInt8](repeating: 0xee, count: 32)) + u64(5)),
        // dbg streaming processes (section 6, Streaming processes)
        (MessageSample(Dbg.Argument(value: "a b")), string("a b")),
        (MessageSample(Dbg.ProcessStartRequest(token: "t", argv: [Dbg.Argument(value: "ls"), Dbg.Argument(value: "-l")], command: "",
                                               cwd: "/d", env: [Dbg.Argument(value: "A=1")], terminal: true, rows: 24, cols: 80,
                                               timeoutSec: -2)),
         string("t") + u32(2) + string("ls") + string("-l") + string("") + string("/d") + u32(1) + string("A=1") + bool(true)
            + int(24) + int(80) + i32(-2)),
        (MessageSample(ProcessStarted(processID: 7, inputWindow: 1 << 18)), u32(7) + u32(1 << 18)),
        (MessageSample(Dbg.ProcessInputRequest(token: "t", processID: 7, data: WireBytes([0, 255]))),
         string("t") + u32(7) + bytes([0, 255])),
        (MessageSample(Dbg.ProcessRef(token: "t", processID: 7)), string("t") + u32(7)),
        (MessageSample(Dbg.ProcessSignalRequest(token: "t", processID: 7, signal: 15)), string("t") + u32(7) + i32(15)),
        (MessageSample(Dbg.ProcessResizeRequest(token: "t", processID: 7, rows: 50, cols: 132)),
         string("t") + u32(7) + int(50) + int(132)),
        (MessageSample(Dbg.AppCallRequest(token: "t", message: WireBytes(Array("{}".utf8)))), string("t") + string("{}")),
        (MessageSample(Dbg.AppCallResult(message: WireBytes(Array("[]".utf8)))), string("[]")),
        (MessageSample(ProcessData(processID: 7, data: WireBytes([1, 2, 3]))), u32(7) + bytes([1, 2, 3])),
        (MessageSample(ProcessCredit(processID: 7, bytes: 65536)), u32(7) + u32(65536)),
        (MessageSample(ProcessExitEvent(processID: 7, exitCode: 137, signal: 9, coreDumped: false, timedOut: true)),
         u32(7) + int(137) + i32(9) + bool(false) + bool(true)),
        // distro (section 7)
        (MessageSample(Distro.StatusResponse(installed: true, path: "/r", size: 1 << 40)),
         bool(true) + string("/r") + int(1 << 40)),
        (MessageSample(Distro.InstallRequest(url: "http://h/x")), string("http://h/x")),
        (MessageSample(Distro.RunRequest(command: "c", workdir: "w", bind: "b", env: "e", input: WireBytes([0]))),
         string("c") + string("w") + string("b") + string("e") + bytes([0])),
        (MessageSample(Distro.RunResult(stdout: "o", stderr: "e", exitCode: 2)), string("o") + string("e") + int(2)),
        (MessageSample(Distro.ShellOpenRequest(workdir: "w", bind: "b", env: "e", rows: 10, cols: 20)),
         string("w") + string("b") + string("e") + int(10) + int(20)),
        (MessageSample(Distro.ShellInputRequest(sessionID: 4, data: "x")), u32(4) + string("x")),
        (MessageSample(Distro.ShellResizeRequest(sessionID: 4, rows: 1, cols: 2)), u32(4) + int(1) + int(2)),
        (MessageSample(Distro.ShellCloseRequest(sessionID: 4)), u32(4)),
        (MessageSample(Distro.RunStartRequest(command: "c", workdir: "w", bind: "b", env: "e", terminal: true, rows: 1, cols: 2,
                                              timeoutSec: 3)),
         string("c") + string("w") + string("b") + string("e") + bool(true) + int(1) + int(2) + i32(3)),
        (MessageSample(Distro.RunRef(processID: 4)), u32(4)),
        (MessageSample(Distro.RunSignalRequest(processID: 4, signal: 2)), u32(4) + i32(2)),
        (MessageSample(Distro.RunResizeRequest(processID: 4, rows: 1, cols: 2)), u32(4) + int(1) + int(2)),
    ]

    @Test("each message encodes to the bytes PROTOCOL.md spells, and they decode back", arguments: 0..<cases.count)
    func golden(_ index: Int) throws {
        let (sample, expected) = GoldenBytesTests.cases[index]
        #expect(try sample.encode() == expected, "\(sample)")
        #expect(try expected.withUnsafeBytes { try sample.decodesToSample($0, false) }, "\(sample)")
    }

    @Test("every message type has golden bytes")
    func everyTypeCovered() {
        let covered = Set(GoldenBytesTests.cases.map { $0.0.typeName })
        let all = Set(everyMessage.map(\.typeName))
        #expect(all.subtracting(covered).isEmpty, "no golden bytes for \(all.subtracting(covered).sorted())")
    }
}
