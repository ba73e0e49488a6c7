import DbgWire

/// One value of a message type, type-erased so every type can run through the same tests.
struct MessageSample: CustomStringConvertible, @unchecked Sendable {
    let description: String
    /// The type's full name (Dbg.ShellOpenRequest and Distro.ShellOpenRequest differ).
    let typeName: String
    let encode: () throws -> [UInt8]
    /// Decodes `bytes` as the sample's type and tells whether it equals the sample.
    let decodesToSample: (UnsafeRawBufferPointer, _ copying: Bool) throws -> Bool

    init<M: WireCodable & Equatable>(_ value: M) {
        description = String(describing: M.self)
        typeName = String(reflecting: M.self)
        encode = { try encodeMessage(value) }
        decodesToSample = { bytes, copying in
            try M.decode(payload: bytes, copyingBytes: copying) == value
        }
    }
}

func encodeMessage<M: WireCodable>(_ value: M) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = try buffer.withUnsafeMutableBytes { raw in
        var writer = WireWriter(raw)
        try value.encode(to: &writer)
        return writer.count
    }
    return Array(buffer[0..<count])
}

/// Every message type of the control service, the error payload and seeds 000 and 001,
/// with field values that exercise signs, extremes, empty and non-ASCII bytes.
let everyMessage: [MessageSample] = [
    MessageSample(Empty()),
    MessageSample(ErrorPayload(code: .io, errno: -28, message: "disk full")),
    MessageSample(Control.HelloRequest(version: 1, maxFrame: 1 << 20, client: "dbg 0.1")),
    MessageSample(Control.HelloResponse(version: 1, maxFrame: 65536, agent: "dbgd", services: [0, 0x60, 0x70],
                                        features: "arch=aarch64")),
    MessageSample(Control.Ping(data: WireBytes([0, 1, 2, 255]))),
    MessageSample(ShellSession(sessionID: 7)),
    MessageSample(ShellOutputEvent(sessionID: .max, data: WireBytes(Array("héllo\r\n".utf8)))),
    MessageSample(ShellExitEvent(sessionID: 3, exitCode: -1)),
    MessageSample(Dbg.AuthRequest(username: "root", password: "s3cr3t")),
    MessageSample(Dbg.SessionInfo(token: WireBytes(String(repeating: "ab", count: 32)), username: "root", uid: 0,
                                  gid: 0, home: "/root", shell: "/bin/sh")),
    MessageSample(Dbg.SessionToken(token: "0123abcd")),
    MessageSample(Dbg.ExecRequest(token: "t", command: "ls -l '/tmp dir'", cwd: "", timeoutSec: -5)),
    MessageSample(Dbg.ExecResult(exitCode: 137, stdout: WireBytes([0xde, 0xad]), stderr: .empty,
                                 stdoutTruncated: true, stderrTruncated: false)),
    MessageSample(Dbg.ShellOpenRequest(token: "t", cwd: "/", rows: 24, cols: 80)),
    MessageSample(Dbg.ShellInputRequest(token: "t", sessionID: 9, data: WireBytes([3]))),
    MessageSample(Dbg.ShellResizeRequest(token: "t", sessionID: 9, rows: 40, cols: 120)),
    MessageSample(Dbg.ShellCloseRequest(token: "t", sessionID: 9)),
    MessageSample(Dbg.ReadFileRequest(token: "t", path: "/etc/hostname", offset: 1 << 40, size: 262_144)),
    MessageSample(Dbg.FileChunk(data: WireBytes([1, 2, 3]), eof: true)),
    MessageSample(Dbg.WriteFileRequest(token: "t", path: "/tmp/x", offset: .max, data: WireBytes([9, 9]),
                                       truncate: true, mode: 0o644)),
    MessageSample(Dbg.WriteFileResult(written: .max)),
    MessageSample(Dbg.PathRequest(token: "t", path: "/etc")),
    MessageSample(Dbg.FileInfo(type: 2, mode: 0o1777, uid: 0, gid: 0, size: 4096, mtime: -1)),
    MessageSample(Dbg.ListDirRequest(token: "t", path: ".", cookie: .max)),
    MessageSample(Dbg.DirPage(entries: [Dbg.DirEntry(name: "a", type: 1, mode: 0o644, size: 3, mtime: 1_700_000_000),
                                        Dbg.DirEntry(name: "b c", type: 3, mode: 0o777, size: 0, mtime: 0)],
                              nextCookie: 12345, done: false)),
    MessageSample(Dbg.MkdirRequest(token: "t", path: "a/b", mode: 0o750, parents: true)),
    MessageSample(Dbg.RemoveRequest(token: "t", path: "a", recursive: true)),
    MessageSample(Dbg.RenameRequest(token: "t", from: "a", to: "b", replace: false)),
    MessageSample(Dbg.HashRequest(token: "t", path: "f", offset: 1, length: 0)),
    MessageSample(Dbg.HashResult(digest: WireBytes([UInt8](repeating: 0xab, count: 32)), length: 99)),
    MessageSample(Dbg.Argument(value: "a b")),
    MessageSample(Dbg.ProcessStartRequest(token: "t", argv: [Dbg.Argument(value: "ls"), Dbg.Argument(value: "-l")], command: "",
                                          cwd: "/tmp", env: [Dbg.Argument(value: "A=1")], terminal: true, rows: 24, cols: 80,
                                          timeoutSec: 5)),
    MessageSample(ProcessStarted(processID: 7, inputWindow: 1 << 18)),
    MessageSample(Dbg.ProcessInputRequest(token: "t", processID: 7, data: WireBytes([0, 255]))),
    MessageSample(Dbg.ProcessRef(token: "t", processID: 7)),
    MessageSample(Dbg.ProcessSignalRequest(token: "t", processID: 7, signal: 15)),
    MessageSample(Dbg.ProcessResizeRequest(token: "t", processID: 7, rows: 50, cols: 132)),
    MessageSample(Dbg.AppCallRequest(token: "t", message: WireBytes(Array("{}".utf8)))),
    MessageSample(Dbg.AppCallResult(message: WireBytes(Array("[]".utf8)))),
    MessageSample(ProcessData(processID: 7, data: WireBytes([1, 2, 3]))),
    MessageSample(ProcessCredit(processID: 7, bytes: 65536)),
    MessageSample(ProcessExitEvent(processID: 7, exitCode: 137, signal: 9, coreDumped: false, timedOut: true)),
    MessageSample(Distro.RunStartRequest(command: "cat", workdir: "/", bind: "", env: "A=1", terminal: false, rows: 0, cols: 0,
                                         timeoutSec: 9)),
    MessageSample(Distro.RunRef(processID: 3)),
    MessageSample(Distro.RunSignalRequest(processID: 3, signal: 2)),
    MessageSample(Distro.RunResizeRequest(processID: 3, rows: 10, cols: 20)),
    MessageSample(Distro.StatusResponse(installed: true, path: "/var/lib/distro", size: Int64.max)),
    MessageSample(Distro.InstallRequest(url: "http://example.invalid/rootfs.tar.xz")),
    MessageSample(Distro.RunRequest(command: "uname -a", workdir: "/root", bind: "/dev:/dev", env: "A=1\nB=2",
                                    input: WireBytes([0x0a]))),
    MessageSample(Distro.RunResult(stdout: "Linux\n", stderr: .empty, exitCode: Int64.min)),
    MessageSample(Distro.ShellOpenRequest(workdir: "", bind: "", env: "", rows: 0, cols: 0)),
    MessageSample(Distro.ShellInputRequest(sessionID: 1, data: "ls\n")),
    MessageSample(Distro.ShellResizeRequest(sessionID: 1, rows: 50, cols: 200)),
    MessageSample(Distro.ShellCloseRequest(sessionID: 1)),
]
