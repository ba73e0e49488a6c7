import DbgClient
import DbgWire
import Foundation

/// A user to run commands as. When the tests run as root (as CI does), it is a test
/// user (uid 2000) with its own home and two supplementary groups, so the privilege drop
/// is exercised; otherwise it is the current user, the only one a non-root agent serves.
struct CommandFixture {
    static let isRoot = geteuid() == 0
    static let testUID: UInt32 = 2000

    let accounts: TestAccounts
    let uid: UInt32
    let gid: UInt32
    let home: String

    init() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-home-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: scratch.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try "a file\n".write(to: scratch.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        home = scratch.path
        uid = CommandFixture.isRoot ? CommandFixture.testUID : getuid()
        gid = uid + 100  // TestAccounts gives every user this primary group
        if CommandFixture.isRoot {
            for path in [home, home + "/sub", home + "/file.txt"] { chown(path, uid, gid) }
            chmod(home, 0o700)
        }
        accounts = try TestAccounts(
            [TestUser(name: "runner", uid: uid, password: "run", homeDirectory: home)],
            groups: [TestGroup(name: "lab", gid: 3000, members: ["other", "runner"]),
                     TestGroup(name: "none", gid: 3001, members: ["other"]),
                     TestGroup(name: "dialout", gid: 3002, members: ["runner"])])
    }

    func startAgent(_ flags: [String] = [], environment: [String: String] = [:]) throws -> AgentProcess {
        try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags + flags, environment: environment)
    }

    /// A connection with a session for the test user.
    func login(_ agent: AgentProcess) throws -> LoggedIn {
        let connection = try agent.connect()
        let session = try connection.authenticate(user: "runner", password: "run")
        return LoggedIn(connection: connection, token: session.token.string)
    }
}

struct LoggedIn {
    let connection: AgentConnection
    let token: String

    func run(_ command: String, cwd: String = "", timeout: Int32 = 0) throws -> Dbg.ExecResult {
        try connection.call(service: ServiceID.dbg, op: Dbg.Op.runCommand.rawValue, request(command, cwd, timeout))
    }

    func shell(_ command: String, cwd: String = "", timeout: Int32 = 0) throws -> Dbg.ExecResult {
        try connection.call(service: ServiceID.dbg, op: Dbg.Op.runShell.rawValue, request(command, cwd, timeout))
    }

    func send(_ command: String, id: UInt32, shell: Bool = false, timeout: Int32 = 0) throws {
        try connection.send(service: ServiceID.dbg, op: shell ? Dbg.Op.runShell.rawValue : Dbg.Op.runCommand.rawValue,
                            id: id, request(command, "", timeout))
    }

    func request(_ command: String, _ cwd: String, _ timeout: Int32) -> Dbg.ExecRequest {
        Dbg.ExecRequest(token: WireBytes(token), command: WireBytes(command), cwd: WireBytes(cwd), timeoutSec: timeout)
    }
}

extension Dbg.ExecResult {
    var out: String { stdout.string }
    var err: String { stderr.string }
}

/// The agent's children (process ids) and how many are zombies.
func children(of pid: pid_t) -> (all: [pid_t], zombies: Int) {
    var all: [pid_t] = []
    var zombies = 0
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let child = pid_t(entry),
              let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 2, pid_t(fields[1]) == pid else { continue }
        all.append(child)
        if fields[0] == "Z" { zombies += 1 }
    }
    return (all, zombies)
}

/// The descriptors a process holds ("3 -> socket:[1234]"), once two readings 50 ms apart
/// agree (at most 2 s): an agent may hold a file for a moment at any time (CI here saw
/// one more just after the start, and under qemu at the end of a test). Those into /proc
/// are left out: the agent opens /proc and each candidate's /proc/PID/stat during a
/// sweep for left-behind processes (OrphanSweep) and closes them at once, and a loaded
/// machine makes sweeps long.
func settledDescriptors(of pid: pid_t) -> [String] {
    var last = countedTargets(of: pid)
    for _ in 0..<40 {
        usleep(50_000)
        let now = countedTargets(of: pid)
        if now == last { break }
        last = now
    }
    return last
}

private func countedTargets(of pid: pid_t) -> [String] {
    descriptorTargets(of: pid).filter { !$0.hasSuffix("-> /proc") && !$0.contains("-> /proc/") }
}

/// What each of a process's descriptors is ("3 -> socket:[1234]"), for failure messages.
func descriptorTargets(of pid: pid_t) -> [String] {
    let folder = "/proc/\(pid)/fd"
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map { name in
        "\(name) -> " + ((try? FileManager.default.destinationOfSymbolicLink(atPath: folder + "/" + name)) ?? "?")
    }
}
