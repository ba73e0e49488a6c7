import CSys
import DbgClient
import DbgWire
import Glibc

/// `dbg connect`: a connection master for the target, in the background.
struct Connect: Command {
    static let spec = CommandSpec(
        name: "connect",
        abstract: "Keep one logged-in connection to the board for later dbg calls (a connection master).",
        discussion: """
            Logs in once and keeps the connection in a background process that listens on a Unix \
            socket in $XDG_RUNTIME_DIR/dbg (else /tmp/dbg-UID), readable by this user alone. Every \
            later dbg call for the same user and target goes through it, without connecting or \
            logging in again: exec, sh, shell, files, distro. It ends after --persist without a \
            call, with dbg disconnect, or when the board goes away; a master that died is noticed \
            by the next call, which then connects by itself.
            """,
        options: [.option("persist", nil, "TIME", "How long it stays without a call: 30s, 10m, 2h; 0 for as long as the "
                          + "board answers (default 10m).")])

    let agent: AgentOptions
    let persistSeconds: Int

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        persistSeconds = try Connect.seconds(arguments.value("persist") ?? "10m")
    }

    static func seconds(_ text: String) throws(ValidationError) -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600]
        let unit = text.last.flatMap { units[$0] }
        guard let number = Int(unit == nil ? text : String(text.dropLast())), number >= 0, number <= 10_000_000 else {
            throw ValidationError("--persist '" + text + "': expected a time such as 30s, 10m or 2h (0: no limit)")
        }
        return number * (unit ?? 1)
    }

    func run() throws {
        let target = try attempt("connect") { try AgentTarget.parse(agent.target) }
        let socket = MasterSocket(target: target, user: agent.userName)
        if let pid = socket.masterProcess() {
            print("dbg: already connected as " + socket.name + " (" + socket.path + ", pid " + String(pid) + ")")
            return
        }
        let listener = try attempt("connect") { () throws(LocalFailure) in try socket.bindNew() }
        let password = try agent.password()
        var report: [Int32] = [-1, -1]
        guard csys_pipe(&report) == 0 else { throw LocalFailure("pipe: " + describeErrno()) }
        let child = fork()
        guard child >= 0 else { throw LocalFailure("fork: " + describeErrno()) }
        if child == 0 {
            close(report[0])
            exit(serve(socket, listener, password: password, report: report[1]))
        }
        close(report[1])
        close(listener)
        // The master says "ok" once logged in, or why it could not; nothing means it died.
        let answer = String(decoding: readToEnd(report[0]) ?? [], as: UTF8.self)
        close(report[0])
        guard answer.hasPrefix("ok") else {
            var status: Int32 = 0
            waitpid(child, &status, 0)
            let parts = answer.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            if answer.isEmpty { Terminal.error("dbg: connect: the master process ended before it was ready") }
            if parts.count == 2 && !parts[1].isEmpty { Terminal.error(String(parts[1])) }
            throw ExitCode(parts.first.flatMap { Int32($0) } ?? ExitStatus.failure)
        }
        print("connected as " + socket.name + ": later calls go through " + socket.path + " (pid " + String(child) + "; "
              + (persistSeconds == 0 ? "until dbg disconnect" : "until " + String(persistSeconds) + " s without a call") + ")")
    }

    /// The master process: logs in, says so through `report`, then relays until it ends.
    private func serve(_ socket: MasterSocket, _ listener: Int32, password: String, report: Int32) -> Int32 {
        setsid()
        func fail(_ status: Int32, _ line: String) -> Int32 {
            writeOut(report, Array((String(status) + " " + line).utf8))
            unlink(socket.pendingPath)
            return status
        }
        guard listen(listener, 64) == 0 else { return fail(ExitStatus.failure, "dbg: connect: listen: " + describeErrno()) }
        let login: LoggedInAgent
        do {
            login = try agent.login(password: password)
        } catch let exit as ExitCode {
            return fail(exit.status, "")  // login() said why, on the same stderr
        } catch {
            return fail(ExitStatus.failure, "dbg: connect: \(error)")
        }
        let master: ConnectionMaster
        do throws(ClientError) {
            master = try ConnectionMaster(agent: login.connection, session: login.session, listener: listener,
                                          idleSeconds: persistSeconds)
        } catch {
            return fail(ExitStatus.failure, "dbg: connect: " + error.message)
        }
        guard rename(socket.pendingPath, socket.path) == 0 else {
            return fail(ExitStatus.failure, "dbg: connect: cannot rename " + socket.pendingPath + ": " + describeErrno())
        }
        for number in [SIGTERM, SIGINT, SIGHUP] { SignalWatcher.on(number) { master.stop() } }
        // Quiet from here on: no terminal to write to.
        let null = open("/dev/null", O_RDWR)
        for fd: Int32 in [0, 1, 2] { dup2(null, fd) }
        writeOut(report, Array("ok".utf8))
        close(report)
        _ = master.run()
        unlink(socket.path)
        return 0
    }
}

/// `dbg disconnect`: ends the target's connection master.
struct Disconnect: Command {
    static let spec = CommandSpec(name: "disconnect", abstract: "End the connection master of dbg connect (the session ends with it).")

    let agent: AgentOptions

    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }

    func run() throws {
        let target = try attempt("disconnect") { try AgentTarget.parse(agent.target) }
        let socket = MasterSocket(target: target, user: agent.userName)
        guard let pid = socket.masterProcess() else {
            Terminal.error("dbg: disconnect: no connection master for " + socket.name)
            throw ExitCode(ExitStatus.failure)
        }
        kill(pid, SIGTERM)
        // Gone when its socket is: it logs out and removes it on its way out.
        for _ in 0..<100 where LocalPath(socket.path).exists { MonotonicClock.sleep(milliseconds: 50) }
        guard !LocalPath(socket.path).exists else {
            Terminal.error("dbg: disconnect: the master (pid " + String(pid) + ") did not end within 5 s")
            throw ExitCode(ExitStatus.failure)
        }
    }
}
