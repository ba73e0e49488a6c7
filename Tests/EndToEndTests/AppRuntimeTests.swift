import DbgClient
import Foundation
import Testing

/// The application runtime (seed 002) through its socket, checked by a Python client
/// that uses only the standard library (Python/app_rpc.py): every method, batches,
/// notifications, error codes and malformed input; supervision; the sandbox; who may call.
@Suite(.needs("app")) struct AppRuntimeTests {
    @Test func everyMethodOverTheSocket() throws {
        let app = try AppFixture()
        let agent = try app.start()
        try app.expectPython("methods", app.home.path)
        _ = agent
    }

    @Test func failingMainIsRestartedWithBackoff() throws {
        let app = try AppFixture(main: "#!/bin/sh\necho started\nexit 1\n")
        let agent = try app.start(["--app-restart", "on-failure"])
        try app.expectPython("restart")
        _ = agent
    }

    @Test func stopKillsMainThatIgnoresSIGTERM() throws {
        let app = try AppFixture(main: "#!/bin/sh\ntrap '' TERM\necho up\nwhile :; do sleep 1; done\n")
        let agent = try app.start(["--app-stop-timeout", "1"])
        try app.expectPython("stubborn")
        _ = agent
    }

    @Test func logRingKeepsTheLastLinesAndCountsTheRest() throws {
        let app = try AppFixture(main: """
            #!/bin/sh
            i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i + 1)); done
            head -c 5000 /dev/zero | tr '\\0' y; echo
            echo "the end"
            exec sleep 100

            """)
        let agent = try app.start(["--app-log-size", "16K"])
        try app.expectPython("noisy")
        _ = agent
    }

    @Test func sandboxIsReadOnlyWithItsOwnTmpNetworkAndPIDs() throws {
        let app = try AppFixture()
        let agent = try app.start()
        try app.expectPython("sandbox", app.home.path)
        _ = agent
    }

    /// The socket's mode keeps other users out; SO_PEERCRED keeps them out when the mode
    /// does not (an operator's chmod).
    @Test func onlyRootAndTheGroupMayCall() throws {
        let app = try AppFixture()
        let agent = try app.start()
        let member = ["setpriv", "--reuid=\(AppFixture.memberUID)", "--regid=\(AppFixture.memberUID + 100)",
                      "--groups=\(AppFixture.groupID)"]
        let outsider = ["setpriv", "--reuid=\(AppFixture.outsiderUID)", "--regid=\(AppFixture.outsiderUID + 100)", "--clear-groups"]
        try app.expectPython("status", prefix: member)
        try app.expectPython("refused-connect", prefix: outsider)
        #expect(chmod(app.socket, 0o666) == 0)
        try app.expectPython("denied", prefix: outsider)
        #expect(agent.isRunning)
    }
}

/// An application directory for one test: the example app of board/examples/app, with
/// the test's own main and two actions (slow, probe), owned by the app user; accounts
/// (appuser, member of the runtime group, outsider); a socket and a backup directory.
struct AppFixture {
    static let appUID: UInt32 = 4101
    static let memberUID: UInt32 = 4102
    static let outsiderUID: UInt32 = 4103
    static let groupID: UInt32 = 4200

    let root: URL
    let accounts: TestAccounts
    var directory: URL { root.appendingPathComponent("app") }
    var home: URL { root.appendingPathComponent("home") }
    var backups: URL { root.appendingPathComponent("backups") }
    var socket: String { root.appendingPathComponent("rpc.sock").path }

    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../board/examples/app").standardizedFileURL
    static let client = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Python/app_rpc.py").path

    init(main: String? = nil) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-app-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        accounts = try TestAccounts([
            TestUser(name: "appuser", uid: AppFixture.appUID, password: "app", homeDirectory: root.appendingPathComponent("home").path),
            TestUser(name: "member", uid: AppFixture.memberUID, password: "member"),
            TestUser(name: "outsider", uid: AppFixture.outsiderUID, password: "outsider"),
        ], groups: [TestGroup(name: "dbgrpc", gid: AppFixture.groupID, members: ["member"])])
        try FileManager.default.copyItem(at: AppFixture.example, to: directory)
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        if let main { try write(main, to: "main") }
        try write("#!/bin/sh\nexec sleep 30\n", to: "actions/slow/run")
        try write(AppFixture.probe, to: "actions/probe/run")
        for path in [root.path, directory.path, home.path] { chmod(path, 0o755) }
        let owner = "\(AppFixture.appUID):\(AppFixture.appUID + 100)"
        let chown = try ChildProcess(["chown", "-R", owner, directory.path, home.path])
        #expect(chown.waitForExit(timeout: 30) == 0)
    }

    /// Writes an executable through cp: a file the test process opened for writing could
    /// be inherited, still open, by a child another test forks at that moment, and the
    /// agent's exec of it would then fail with ETXTBSY (CI here, once).
    private func write(_ text: String, to relative: String) throws {
        let file = directory.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let staged = root.appendingPathComponent("staged-" + UUID().uuidString)
        try text.write(to: staged, atomically: false, encoding: .utf8)
        let copy = try ChildProcess(["cp", staged.path, file.path])
        _ = copy.output.readDataToEndOfFile()
        #expect(copy.waitForExit(timeout: 30) == 0, "cp \(staged.path) \(file.path)")
        try? FileManager.default.removeItem(at: staged)
        chmod(file.path, 0o755)
    }

    func start(_ extra: [String] = []) throws -> AgentProcess {
        try AgentProcess(["--unix", root.appendingPathComponent("dbgd.sock").path, "--app-dir", directory.path,
                          "--app-user", "appuser", "--rpc-socket", socket, "--rpc-group", "dbgrpc",
                          "--backup-dir", backups.path] + accounts.shadowFlags + extra)
    }

    /// Runs a scenario of the Python client and expects it to pass.
    func expectPython(_ scenario: String, _ arguments: String..., prefix: [String] = []) throws {
        let child = try ChildProcess(prefix + ["/usr/bin/python3", AppFixture.client, socket, scenario] + arguments,
                                     environment: ["APP_DIR": directory.path])
        let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
        let status = child.waitForExit(timeout: 180)
        #expect(status == 0, "app_rpc.py \(scenario): \(output)")
    }

    /// An action that reports what it can reach: write outside /tmp (the app directory,
    /// /var/tmp), write /tmp, connect to the host's loopback, its pid and interfaces.
    static let probe = """
        #!/usr/bin/env python3
        import json, os, socket, sys, uuid
        given = json.load(sys.stdin)
        def writes(path):
            try:
                with open(path, "w") as f:
                    f.write("x")
                os.unlink(path)
                return True
            except OSError:
                return False
        name = "probe-" + uuid.uuid4().hex
        result = {"pid": os.getpid(), "initIsOwn": os.getppid() == 1, "tmpName": name,
                  "interfaces": sorted(n for _, n in socket.if_nameindex())}
        result["wroteHome"] = writes(os.path.join(os.environ["DBGD_APP_DIR"], name)) and writes("/var/tmp/" + name)
        try:
            with open("/tmp/" + name, "w") as f:
                f.write("x")
            result["wroteTmp"] = True
        except OSError:
            result["wroteTmp"] = False
        try:
            socket.create_connection(("127.0.0.1", given["port"]), timeout=2).close()
            result["reachedHost"] = True
        except OSError:
            result["reachedHost"] = False
        print(json.dumps(result))

        """
}
