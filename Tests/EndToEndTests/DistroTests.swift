import DbgClient
import DbgWire
import Foundation
import Testing

/// A rootfs made offline from Debian's busybox-static, archived in every format Install
/// reads, once per test run.
enum TestRootfs {
    static let directory: URL = {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-rootfs-\(UUID().uuidString.prefix(8))")
        let root = base.appendingPathComponent("tree")
        let fm = FileManager.default
        try! fm.createDirectory(at: root.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try! fm.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try! fm.copyItem(atPath: "/bin/busybox", toPath: root.appendingPathComponent("bin/busybox").path)
        for tool in ["sh", "cat", "echo", "ls", "id", "uname", "stty", "sleep", "env", "pwd", "tty"] {
            try! fm.createSymbolicLink(atPath: root.appendingPathComponent("bin/\(tool)").path, withDestinationPath: "busybox")
        }
        try! "NAME=\"Test Linux\"\nID=testlinux\n".write(to: root.appendingPathComponent("etc/os-release"), atomically: true, encoding: .utf8)
        try! "testbox\n".write(to: root.appendingPathComponent("etc/hostname"), atomically: true, encoding: .utf8)
        let tar = base.appendingPathComponent("rootfs.tar").path
        shell("tar -C '\(root.path)' -cf '\(tar)' . && gzip -k '\(tar)' && xz -k -T1 '\(tar)' && zstd -q -k '\(tar)'")
        return base
    }()

    static func archive(_ suffix: String) -> String { directory.appendingPathComponent("rootfs.\(suffix)").path }

    /// Runs a command line with /bin/sh; the tests' own tooling (tar, python3).
    @discardableResult
    static func shell(_ line: String) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", line]
        try! process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// An agent with a distro root of its own, reached as root over a Unix socket and as the
/// test user over TCP.
struct DistroFixture {
    let fixture: CommandFixture
    let agent: AgentProcess
    let parent: String
    let root: String

    init(_ flags: [String] = []) throws {
        fixture = try CommandFixture()
        parent = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-distro-\(UUID().uuidString.prefix(8))").path
        root = parent + "/distro"
        agent = try fixture.startAgent(["--unix", parent + ".sock", "--distro-root", root] + flags)
    }

    /// As root: the Unix socket's peer credentials are the identity.
    func admin() throws -> AgentConnection { try agent.connect(agent.unixAddresses[0]) }

    /// What is beside the root (leftovers would show here).
    var parentEntries: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).sorted() }

    func run(_ connection: AgentConnection, _ command: String, workdir: String = "", bind: String = "", env: String = "",
             input: [UInt8] = []) throws -> Distro.RunResult {
        try connection.distroRun(Distro.RunRequest(command: WireBytes(command), workdir: WireBytes(workdir), bind: WireBytes(bind),
                                                   env: WireBytes(env), input: WireBytes(input)))
    }
}

func remoteCode(_ body: () throws -> Void) -> ErrorCode? {
    do {
        try body()
        return nil
    } catch let error as ClientError {
        if case .remote(let code, _, _) = error { return code }
        return nil
    } catch {
        return nil
    }
}

// Namespaces as the agent runs them in CI, and Install, need root.
@Suite(.serialized, .enabled(if: CommandFixture.isRoot), .needs("distro"))
struct DistroTests {
    @Test func installRunShellRemove() throws {
        let distro = try DistroFixture()
        let admin = try distro.admin()
        let before = try admin.distroStatus()
        #expect(!before.installed && before.path.string == distro.root && before.size == 0)
        #expect(remoteCode { _ = try distro.run(admin, "true") } == .notFound)

        try admin.distroInstall(url: TestRootfs.archive("tar.gz"))
        let after = try admin.distroStatus()
        #expect(after.installed && after.size > 1_500_000)
        #expect(distro.parentEntries == ["distro"])
        #expect(remoteCode { try admin.distroInstall(url: TestRootfs.archive("tar.gz")) } == .exists)

        #expect(try distro.run(admin, "uname -n").stdout.string == "testbox\n")
        #expect(try distro.run(admin, "cat /etc/os-release").stdout.string.contains("NAME=\"Test Linux\""))
        #expect(try distro.run(admin, "sh -c 'echo $FOO-$BAR'", env: "FOO=one\nBAR=two\n").stdout.string == "one-two\n")
        #expect(try distro.run(admin, "cat", input: Array("typed in\n".utf8)).stdout.string == "typed in\n")
        let pid = try distro.run(admin, "sh -c 'echo $$'")
        // A PID namespace of its own: the init is 1, the program one of the first few (2
        // natively; qemu-user's fork emulation may take a pid more).
        #expect((Int(pid.stdout.string.dropLast()) ?? 99) < 5)
        let exit = try distro.run(admin, "sh -c 'echo out; echo err >&2; exit 3'")
        #expect(exit.stdout.string == "out\n" && exit.stderr.string == "err\n" && exit.exitCode == 3)
        #expect(try distro.run(admin, "pwd", workdir: "/etc").stdout.string == "/etc\n")
        #expect(try distro.run(admin, "ls /proc/1/status /sys/kernel /dev/null /dev/pts").exitCode == 0)

        let shared = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-bind-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: shared, withIntermediateDirectories: true)
        try "from the host\n".write(to: shared.appendingPathComponent("note"), atomically: true, encoding: .utf8)
        #expect(try distro.run(admin, "cat /mnt/host/note", bind: "\(shared.path):/mnt/host").stdout.string == "from the host\n")
        #expect(remoteCode { _ = try distro.run(admin, "true", bind: "/no/such/dir:/mnt") } == .notFound)
        // Nothing mounted inside shows up on the host.
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(distro.root))

        // As the test user over TCP: the process has the user's identity inside.
        let user = try distro.fixture.login(distro.agent).connection
        #expect(try distro.run(user, "id -u").stdout.string == "\(distro.fixture.uid)\n")
        #expect(remoteCode { try user.distroRemove() } == .denied)

        // A shell, resized; Remove is refused while it runs.
        let shell = try admin.distroOpenShell(Distro.ShellOpenRequest(workdir: WireBytes(""), bind: WireBytes(""), env: WireBytes(""),
                                                                      rows: 24, cols: 80))
        var output = ""
        func expectOutput(_ text: String) throws {
            let deadline = Date(timeIntervalSinceNow: 20)
            while !output.contains(text) {
                guard Date() < deadline else { throw AgentProcessError("no '\(text)' in shell output: \(output)") }
                let frame = try admin.receive()
                if frame.header.op == Distro.Event.shellOutput.rawValue, frame.header.service == ServiceID.distro {
                    output += try frame.decode(ShellOutputEvent.self).data.string
                }
                if frame.header.op == Distro.Event.shellExit.rawValue {
                    output += "EXIT=\(try frame.decode(ShellExitEvent.self).exitCode)"
                }
            }
        }
        try admin.distroShellInput(shell: shell, Array("stty size; hostname 2>/dev/null || uname -n\n".utf8))
        try expectOutput("24 80")
        try admin.distroResizeShell(shell: shell, rows: 40, cols: 120)
        try admin.distroShellInput(shell: shell, Array("stty size\n".utf8))
        try expectOutput("40 120")
        #expect(remoteCode { try admin.distroRemove() } == .busy)
        try admin.distroShellInput(shell: shell, Array("exit 5\n".utf8))
        try expectOutput("EXIT=5")

        // A mount someone left inside the root is detached, never deleted through.
        try FileManager.default.createDirectory(atPath: distro.root + "/mnt/leak", withIntermediateDirectories: true)
        #expect(TestRootfs.shell("mount --bind '\(shared.path)' '\(distro.root)/mnt/leak'") == 0)
        try admin.distroRemove()
        #expect(try admin.distroStatus().installed == false)
        #expect(!FileManager.default.fileExists(atPath: distro.root))
        #expect(distro.parentEntries.isEmpty)
        #expect(try String(contentsOf: shared.appendingPathComponent("note"), encoding: .utf8) == "from the host\n")
    }

    /// Output beyond --max-output is cut with a line on stderr saying so; a run that
    /// outlives --max-exec-timeout ends with 124; Remove waits for no run.
    @Test func boundedRuns() throws {
        let distro = try DistroFixture(["--max-output", "4096", "--exec-timeout", "1", "--max-exec-timeout", "1"])
        let admin = try distro.admin()
        try admin.distroInstall(url: TestRootfs.archive("tar.gz"))
        let chatty = try distro.run(admin, "sh -c 'i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done'")
        #expect(chatty.stdout.count == 4096 && chatty.exitCode == 0)
        #expect(chatty.stderr.string == "dbgd: output cut: stdout was longer than 4096 bytes\n")
        let other = try distro.admin()
        try other.send(service: ServiceID.distro, op: Distro.Op.run.rawValue, id: 7,
                       Distro.RunRequest(command: WireBytes("sleep 10"), workdir: .empty, bind: .empty, env: .empty, input: .empty))
        Thread.sleep(forTimeInterval: 0.3)
        #expect(remoteCode { try admin.distroRemove() } == .busy)
        let slow = try other.receive().decode(Distro.RunResult.self)
        #expect(slow.exitCode == 124 && slow.stderr.string.hasSuffix("dbgd: timed out after 1 s\n"))
        try admin.distroRemove()
    }

    /// RunStart streams like dbg's ProcessStart, inside the rootfs: input in, both
    /// streams out, signals, the exit; a running one keeps Remove away. The client's
    /// `dbg distro run` uses it.
    @Test func streamedRuns() throws {
        let distro = try DistroFixture()
        let admin = try distro.admin()
        try admin.distroInstall(url: TestRootfs.archive("tar.gz"))
        func start(_ command: String) throws -> UInt32 {
            try admin.distroStartRun(Distro.RunStartRequest(command: WireBytes(command), workdir: .empty, bind: .empty, env: .empty,
                                                            terminal: false, rows: 0, cols: 0, timeoutSec: 0)).processID
        }
        var out: [UInt32: [UInt8]] = [:]
        var err: [UInt32: [UInt8]] = [:]
        var exits: [UInt32: ProcessExitEvent] = [:]
        func wait(_ id: UInt32) throws -> ProcessExitEvent {
            while exits[id] == nil {
                let frame = try admin.receive()
                switch Distro.Event(rawValue: frame.header.op) {
                case .runStdout: let data = try frame.decode(ProcessData.self); out[data.processID, default: []] += data.data.bytes
                case .runStderr: let data = try frame.decode(ProcessData.self); err[data.processID, default: []] += data.data.bytes
                case .runExit: let exit = try frame.decode(ProcessExitEvent.self); exits[exit.processID] = exit
                default: if let error = try frame.remoteError() { throw error }
                }
            }
            return exits[id]!
        }
        let echo = try start("sh -c 'uname -n; cat; echo done >&2'")
        try admin.distroRunInput(process: echo, Array("through the rootfs\n".utf8))
        try admin.distroCloseRunInput(process: echo)
        #expect(try wait(echo).exitCode == 0)
        #expect(String(decoding: out[echo]!, as: UTF8.self) == "testbox\nthrough the rootfs\n")
        #expect(String(decoding: err[echo]!, as: UTF8.self) == "done\n")
        let sleeper = try start("sleep 100")
        #expect(remoteCode { try distro.admin().distroRemove() } == .busy)
        try admin.distroSignalRun(process: sleeper, signal: SIGTERM)
        let ended = try wait(sleeper)
        #expect(ended.exitCode == 128 + Int64(SIGTERM) && ended.signal == 0, "the namespace's init reports it as an exit")
        // The client, over the Unix socket: stdin streams in.
        let client = try ChildProcess(["sh", "-c", "printf 'a\\nb\\n' | '\(DbgTool.binary)' distro run -- sh -c 'cat; exit 5'"],
                                      environment: ["DBG_HOST": "unix:" + distro.parent + ".sock"])
        #expect(String(decoding: client.output.readDataToEndOfFile(), as: UTF8.self) == "a\nb\n")
        #expect(client.waitForExit(timeout: 30) == 5)
        try admin.distroRemove()
    }

    @Test(arguments: ["tar", "tar.xz", "tar.zst"])
    func everyFormat(_ suffix: String) throws {
        let distro = try DistroFixture()
        let admin = try distro.admin()
        try admin.distroInstall(url: "file://" + TestRootfs.archive(suffix))
        #expect(try distro.run(admin, "cat /etc/hostname").stdout.string == "testbox\n")
    }

    @Test func installOverHTTP() throws {
        let server = try TestHTTPServer(files: ["/rootfs.tar.xz": try Data(contentsOf: URL(fileURLWithPath: TestRootfs.archive("tar.xz")))])
        let distro = try DistroFixture(["--distro-url", "http://127.0.0.1:\(server.port)/latest"])
        let admin = try distro.admin()
        #expect(remoteCode { try admin.distroInstall(url: "http://127.0.0.1:\(server.port)/missing.tar") } == .notFound)
        #expect(distro.parentEntries.isEmpty)
        // The default URL redirects; the file comes in chunks.
        try admin.distroInstall(url: "")
        #expect(try admin.distroStatus().installed)
        #expect(try distro.run(admin, "uname -n").stdout.string == "testbox\n")
        #expect(server.requests.contains("/latest") && server.requests.contains("/rootfs.tar.xz"))
    }

    /// An install whose client disconnects, or whose agent is stopped, midway leaves
    /// nothing; what an agent that died left is removed by the next install.
    @Test func interruptedInstalls() throws {
        let server = try TestHTTPServer(files: ["/rootfs.tar.gz": try Data(contentsOf: URL(fileURLWithPath: TestRootfs.archive("tar.gz")))])
        let distro = try DistroFixture()
        let stalled = "http://127.0.0.1:\(server.port)/stall"
        func waitUntil(_ condition: () -> Bool) -> Bool {
            let deadline = Date(timeIntervalSinceNow: 20)
            while !condition() && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            return condition()
        }
        do {
            let client = try distro.admin()
            try client.send(service: ServiceID.distro, op: Distro.Op.install.rawValue, id: 1, Distro.InstallRequest(url: WireBytes(stalled)))
            #expect(waitUntil { distro.parentEntries.contains { $0.hasPrefix(".distro.partial-") } })
        }  // the client goes away
        #expect(waitUntil { distro.parentEntries.isEmpty })
        #expect(distro.agent.waitForLine(timeout: 10) { $0.contains("install cancelled: the client disconnected") } != nil)

        let other = try distro.admin()
        #expect(try other.distroStatus().installed == false)
        try other.send(service: ServiceID.distro, op: Distro.Op.install.rawValue, id: 1, Distro.InstallRequest(url: WireBytes(stalled)))
        #expect(waitUntil { distro.parentEntries.contains { $0.hasPrefix(".distro.partial-") } })
        // Another install meanwhile is Busy; everything else is served.
        #expect(remoteCode { try distro.admin().distroInstall(url: TestRootfs.archive("tar")) } == .busy)
        #expect(try distro.admin().distroStatus().installed == false)
        distro.agent.signal(SIGTERM)
        #expect(distro.agent.waitForExit(timeout: 20) == 0)
        #expect(distro.parentEntries.isEmpty)

        // An agent killed outright leaves its directories; the next agent clears them.
        for leftover in [".distro.partial-99999-1/etc", ".distro.removing-99999-2/bin"] {
            try FileManager.default.createDirectory(atPath: distro.parent + "/" + leftover, withIntermediateDirectories: true)
        }
        let again = try AgentProcess(["--unix", distro.parent + ".sock", "--distro-root", distro.root])
        #expect(waitUntil { distro.parentEntries.isEmpty })
        try again.connect(again.unixAddresses[0]).distroInstall(url: TestRootfs.archive("tar.gz"))
        #expect(distro.parentEntries == ["distro"])
    }

    @Test func refusedRequests() throws {
        let distro = try DistroFixture()
        let admin = try distro.admin()
        #expect(remoteCode { try admin.distroInstall(url: "") } == .unsupported)
        #expect(remoteCode { try admin.distroInstall(url: "https://example.invalid/rootfs.tar") } == .unsupported)
        #expect(remoteCode { try admin.distroInstall(url: "relative/path.tar") } == .badRequest)
        #expect(remoteCode { try admin.distroInstall(url: "/no/such/archive.tar") } == .notFound)
        // A FIFO nobody writes would hold the install thread forever.
        let fifo = distro.parent + "/archive.fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        #expect(remoteCode { try admin.distroInstall(url: fifo) } == .badRequest)
        #expect(remoteCode { try admin.distroInstall(url: "/no/such/archive.tar") } == .notFound)  // not Busy
        #expect(remoteCode { try admin.distroRemove() } == .notFound)
        let anonymous = try distro.agent.connect()
        #expect(remoteCode { _ = try anonymous.distroStatus() } == .unauthenticated)
        let user = try distro.fixture.login(distro.agent).connection
        #expect(try user.distroStatus().installed == false)
        #expect(remoteCode { try user.distroInstall(url: TestRootfs.archive("tar")) } == .denied)
        try admin.distroInstall(url: TestRootfs.archive("tar"))
        #expect(remoteCode { _ = try distro.run(admin, "true", env: "NOEQUALS") } == .badRequest)
        #expect(remoteCode { _ = try distro.run(admin, "true", bind: "relative:/x") } == .badRequest)
        #expect(remoteCode { _ = try distro.run(admin, "no-such-program") } == .notFound)
        #expect(remoteCode { _ = try distro.run(admin, "true", workdir: "/no/such") } == .notFound)
        #expect(remoteCode { _ = try admin.distroShellInput(shell: 999, [1]); _ = try admin.distroStatus() } == .notFound)
    }

    /// Archives that try to write outside the root, and broken ones: refused, and
    /// nothing is left behind (nor written outside).
    @Test func maliciousAndCorruptArchives() throws {
        let distro = try DistroFixture()
        let admin = try distro.admin()
        let work = TestRootfs.directory.appendingPathComponent("bad-\(UUID().uuidString.prefix(8))").path
        let outside = work + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let script = """
            import io, sys, tarfile
            def make(name, entries):
                with tarfile.open(f"{sys.argv[1]}/{name}", "w") as t:
                    for kind, path, extra in entries:
                        info = tarfile.TarInfo(path)
                        if kind == "file":
                            info.size = len(extra); t.addfile(info, io.BytesIO(extra))
                        elif kind == "symlink":
                            info.type = tarfile.SYMTYPE; info.linkname = extra; t.addfile(info)
                        elif kind == "hardlink":
                            info.type = tarfile.LNKTYPE; info.linkname = extra; t.addfile(info)
            shell = ("symlink", "bin/sh", "busybox")
            make("dotdot.tar", [shell, ("file", "../escaped", b"x")])
            make("absolute.tar", [shell, ("file", "/tmp/absolute-escape", b"x")])
            make("through-symlink.tar", [shell, ("symlink", "evil", sys.argv[2]), ("file", "evil/pwned", b"x")])
            make("hardlink-out.tar", [shell, ("hardlink", "passwd", "../../etc/passwd")])
            make("no-shell.tar", [("file", "etc/hostname", b"x")])
            """
        #expect(TestRootfs.shell("python3 -c '\(script.replacingOccurrences(of: "'", with: "'\\''"))' '\(work)' '\(outside)'") == 0)
        let original = try Data(contentsOf: URL(fileURLWithPath: TestRootfs.archive("tar.gz")))
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: work + "/truncated.tar.gz"))
        // Bytes changed in the middle of the compressed data: however they decode, the
        // check at the end of the stream catches them. Several places, several formats.
        var corrupted: [String] = []
        for suffix in ["tar.gz", "tar.xz", "tar.zst"] {
            let data = try Data(contentsOf: URL(fileURLWithPath: TestRootfs.archive(suffix)))
            for (index, fraction) in [0.3, 0.5, 0.8].enumerated() {
                var bytes = data
                bytes[Int(Double(data.count) * fraction)] ^= 0x55
                let name = "corrupt-\(index).\(suffix)"
                try bytes.write(to: URL(fileURLWithPath: work + "/" + name))
                corrupted.append(name)
            }
        }
        try Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: work + "/garbage.tar"))

        for name in ["dotdot.tar", "absolute.tar", "through-symlink.tar", "hardlink-out.tar", "no-shell.tar",
                     "truncated.tar.gz", "garbage.tar"] + corrupted {
            let code = remoteCode { try admin.distroInstall(url: work + "/" + name) }
            #expect(code == .badRequest, "\(name): \(String(describing: code))")
            #expect(distro.parentEntries.isEmpty, "\(name) left \(distro.parentEntries)")
            #expect(try admin.distroStatus().installed == false)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/absolute-escape"))
        #expect(!FileManager.default.fileExists(atPath: distro.parent + "/escaped"))
    }
}

extension DistroTests {
    /// An agent that is not root enters the rootfs through a user namespace that maps
    /// only its own user. (Not under qemu-user: its helper threads make the process
    /// multithreaded, and the kernel refuses a user namespace to such a process.)
    @Test(.enabled(if: !AgentProcess.isEmulated))
    func agentThatIsNotRoot() throws {
        let distro = try DistroFixture()
        try distro.admin().distroInstall(url: TestRootfs.archive("tar.gz"))
        let uid = distro.fixture.uid
        let sockets = distro.parent + "-user"
        try FileManager.default.createDirectory(atPath: sockets, withIntermediateDirectories: true)
        chown(sockets, uid, uid + 100)
        let asUser = ["setpriv", "--reuid=\(uid)", "--regid=\(uid + 100)", "--clear-groups"]
        let agent = try AgentProcess(["--unix", sockets + "/agent.sock", "--distro-root", distro.root], prefix: asUser)
        let run = try ChildProcess(asUser + [DbgTool.binary, "distro", "run", "--", "sh", "-c", "id -u; uname -n; echo $$"],
                                   environment: ["DBG_HOST": "unix:" + sockets + "/agent.sock"])
        let output = String(decoding: run.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(run.waitForExit(timeout: 30) == 0)
        #expect(output == "\(uid)\ntestbox\n2\n")
        // Anyone else is turned away: the agent can only act as itself.
        #expect(remoteCode { _ = try agent.connect(agent.unixAddresses[0]).distroStatus() } == .denied)
    }
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 for Install: serves `files` with chunked
/// transfer coding, redirects /latest to the first file, 404 for the rest.
final class TestHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var seen: [String] = []

    var requests: [String] { lock.withLock { seen } }

    init(files: [String: Data]) throws {
        let (fd, port) = try listenOnLoopback(backlog: 8)
        self.fd = fd
        self.port = port
        let first = files.keys.sorted().first ?? "/"
        Thread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                var request = [UInt8]()
                var byte: UInt8 = 0
                while read(client, &byte, 1) == 1 {
                    request.append(byte)
                    if request.suffix(4) == Array("\r\n\r\n".utf8) { break }
                }
                let path = String(decoding: request, as: UTF8.self).split(separator: " ").dropFirst().first.map(String.init) ?? "/"
                lock.withLock { seen.append(path) }
                var reply: Data
                if path == "/stall", let body = files.values.first {
                    // Headers and a first part, then nothing until the client goes away.
                    reply = Data("HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body.prefix(body.count / 3)
                    _ = reply.withUnsafeBytes { write(client, $0.baseAddress!, $0.count) }
                    var scratch = [UInt8](repeating: 0, count: 64)
                    while read(client, &scratch, scratch.count) > 0 {}
                    close(client)
                    continue
                }
                if path == "/latest" {
                    reply = Data("HTTP/1.1 302 Found\r\nLocation: \(first)\r\nContent-Length: 0\r\n\r\n".utf8)
                } else if let body = files[path] {
                    reply = Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                    var at = 0
                    while at < body.count {
                        let size = min(100_000, body.count - at)
                        reply += Data((String(size, radix: 16) + ";ext=1\r\n").utf8) + body[at..<(at + size)] + Data("\r\n".utf8)
                        at += size
                    }
                    reply += Data("0\r\n\r\n".utf8)
                } else {
                    reply = Data("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found".utf8)
                }
                reply.withUnsafeBytes { bytes in
                    var sent = 0
                    while sent < bytes.count {
                        let n = write(client, bytes.baseAddress! + sent, bytes.count - sent)
                        if n <= 0 { break }
                        sent += n
                    }
                }
                close(client)
            }
        }.start()
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
}
