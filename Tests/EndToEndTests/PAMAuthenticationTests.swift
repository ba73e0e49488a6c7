import DbgClient
import DbgWire
import Foundation
import Testing

/// The PAM backend for real, through pam_wrapper: libpam loads this test's own `dbgd`
/// service file (pam_matrix checks a password file; pam_faildelay adds PAM's failure
/// delay). Host build only: the firmware has no PAM.
@Suite("Authentication (PAM)", .enabled(if: !AgentProcess.isFirmware && PAMService.available, "PAM: the host build with pam_wrapper only"))
struct PAMAuthenticationTests {
    @Test("good password, bad password, unknown user and an account PAM refuses")
    func outcomes() throws {
        let pam = try PAMService()
        let agent = try pam.startAgent()
        let connection = try agent.connect()
        let session = try connection.authenticate(user: "alice", password: "secret")
        #expect(session.username.string == "alice" && session.uid == 1000 && session.home.string == "/home/alice")
        for (index, (user, password)) in [("alice", "wrong"), ("nobody", "secret"), ("locked", "secret")].enumerated() {
            #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "authentication failed"), "\(user)") {
                _ = try agent.connect(localAddress: "127.0.8.\(index + 1)").authenticate(user: user, password: password)
            }
        }
        // pam_acct_mgmt is what refuses the locked account: its password is right.
        // The log is read by another thread: the line may come a moment after the answer.
        #expect(agent.waitForLine(timeout: 10) { $0.contains("'locked'") && $0.contains("pam_acct_mgmt") } != nil)
        // Ends the PAM session (pam_close_session on a worker).
        try connection.logout(token: session.token.string)
    }

    @Test("a prompt other than the password fails the conversation cleanly")
    func otherPrompts() throws {
        // pam_matrix's `echo` option asks with PAM_PROMPT_ECHO_ON, which dbgd does not answer.
        let pam = try PAMService(matrixOptions: "echo")
        let agent = try pam.startAgent()
        #expect(throws: ClientError.remote(code: .denied, errno: 0, message: "authentication failed")) {
            _ = try agent.connect().authenticate(user: "alice", password: "secret")
        }
        #expect(try agent.connect().ping([1]) == [1])
    }

    @Test("while one client sits in PAM's 3-second failure delay, other connections are answered promptly")
    func failDelayDoesNotStallTheLoop() throws {
        let pam = try PAMService(failDelayMicroseconds: 3_000_000)
        let agent = try pam.startAgent()
        let victim = try agent.connect(localAddress: "127.0.9.1")
        let pinger = try agent.connect()
        let pings = NSLock()
        nonisolated(unsafe) var running = true
        nonisolated(unsafe) var rtts: [Double] = []
        let thread = Thread {
            while pings.withLock({ running }) {
                let start = Date()
                guard (try? pinger.ping([2])) == [2] else { pings.withLock { rtts.append(.infinity) }; return }
                pings.withLock { rtts.append(Date().timeIntervalSince(start)) }
                usleep(10_000)
            }
        }
        try victim.send(service: ServiceID.dbg, op: Dbg.Op.authenticate.rawValue, id: 1,
                        Dbg.AuthRequest(username: "alice", password: "wrong"))
        let start = Date()
        thread.start()
        let answer = try victim.receive()
        let elapsed = Date().timeIntervalSince(start)
        pings.withLock { running = false }
        // PAM varies a fail delay by up to half either way: 3 s means 1.5 s to 4.5 s.
        #expect(elapsed >= 1.4, "the wrong password was answered after \(elapsed) s")
        let measured = pings.withLock { rtts }
        #expect(measured.count >= 20 && measured.max()! < 0.05, "ping round trips during the delay: \(measured)")
        _ = victim.expectError(answer, .denied)
        #expect(try agent.connect().authenticate(user: "alice", password: "secret").username.string == "alice")
    }
}

/// A PAM service directory for pam_wrapper with a `dbgd` service file.
struct PAMService {
    static let wrapper = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
    static let matrix = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_matrix.so"
    static let faildelay = "/lib/x86_64-linux-gnu/security/pam_faildelay.so"
    static var available: Bool { FileManager.default.fileExists(atPath: wrapper) }

    let directory: URL
    let accounts: TestAccounts

    init(matrixOptions: String = "", failDelayMicroseconds: Int? = nil) throws {
        accounts = try TestAccounts([TestUser(name: "alice", uid: 1000, password: "unused"),
                                     TestUser(name: "locked", uid: 1002, password: "unused")])
        directory = accounts.directory.appendingPathComponent("pam.d")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let passdb = accounts.directory.appendingPathComponent("passdb").path
        // pam_matrix's account check compares the service: "locked" may only use another one.
        try "alice:secret:dbgd\nlocked:secret:otherservice\n".write(toFile: passdb, atomically: true, encoding: .utf8)
        let module = "\(PAMService.matrix) passdb=\(passdb) \(matrixOptions)"
        var service = ""
        if let delay = failDelayMicroseconds { service += "auth optional \(PAMService.faildelay) delay=\(delay)\n" }
        service += "auth required \(module)\naccount required \(module)\nsession required \(module)\n"
        try service.write(to: directory.appendingPathComponent("dbgd"), atomically: true, encoding: .utf8)
        try "auth required \(PAMService.matrix) passdb=/nonexistent\n".write(
            to: directory.appendingPathComponent("other"), atomically: true, encoding: .utf8)
    }

    func startAgent() throws -> AgentProcess {
        try AgentProcess(["--listen", "127.0.0.1:0", "--auth", "pam", "--passwd", accounts.passwd],
                         environment: ["LD_PRELOAD": PAMService.wrapper, "PAM_WRAPPER": "1",
                                       "PAM_WRAPPER_SERVICE_DIR": directory.path])
    }
}
