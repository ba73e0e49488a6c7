import ArgumentParser
import DbgClient
import DbgWire
import Foundation

/// Where the agent is, and who to log in as.
struct AgentOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .long],
            help: "Agent: HOST[:PORT], [IPv6]:PORT, unix:/PATH, serial:DEVICE[,BAUD], socket://HOST:PORT[,BAUD] or rfc2217://HOST:PORT[,BAUD] (env DBG_HOST; default 127.0.0.1:5037).")
    var host: String?

    @Option(name: [.customShort("u"), .long], help: "User to log in as (env DBG_USER; default root).")
    var user: String?

    @Option(help: "Read the password from the first line of this file (env DBG_PASSWORD_FILE; else env DBG_PASSWORD, else a prompt).")
    var passwordFile: String?

    @Option(help: "Seconds to wait for the agent to connect and answer (env DBG_CONNECT_TIMEOUT; default 10; commands and shells wait as long as they run).")
    var connectTimeout: Int?

    @Option(help: "Seconds to keep trying while the agent cannot be reached yet, after a flash or a reboot (env DBG_WAIT; default 0).")
    var wait: Int?

    @Option(name: [.customShort("b"), .long], help: "A board named in the config file (env DBG_BOARD; see dbg boards).")
    var board: String?

    private static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The named board's entry: what the command line does not say comes from it.
    private var entry: BoardConfig.Board? { Self.namedBoard }

    var target: String {
        host ?? entry?.target ?? AgentOptions.environment["DBG_HOST"] ?? "127.0.0.1:\(AgentTarget.defaultPort)"
    }

    var userName: String { user ?? entry?.user ?? AgentOptions.environment["DBG_USER"] ?? "root" }

    private var passwordPath: String? { passwordFile ?? entry?.passwordFile ?? AgentOptions.environment["DBG_PASSWORD_FILE"] }

    /// Set once, in validate(): the entry of --board (or DBG_BOARD).
    nonisolated(unsafe) private static var namedBoard: BoardConfig.Board?

    private func resolveBoard() throws {
        guard let name = board ?? AgentOptions.environment["DBG_BOARD"].flatMap({ $0.isEmpty ? nil : $0 }) else { return }
        let config = try BoardConfig.loadForCommand()
        guard let found = config.boards.first(where: { $0.name == name }) else {
            Terminal.error("dbg: no board named '\(name)' in \(config.path) (dbg boards lists them)")
            throw ExitCode(ExitStatus.usage)
        }
        Self.namedBoard = found
    }

    func validate() throws {
        try resolveBoard()
        if let connectTimeout, connectTimeout <= 0 {
            throw ValidationError("--connect-timeout must be a positive number of seconds")
        }
        if connectTimeout == nil, entry?.connectTimeout == nil, let text = AgentOptions.environment["DBG_CONNECT_TIMEOUT"],
           (Int(text) ?? 0) <= 0 {
            throw ValidationError("DBG_CONNECT_TIMEOUT '\(text)': expected a positive number of seconds")
        }
        if let wait, wait < 0 { throw ValidationError("--wait must not be negative") }
        if wait == nil, entry?.wait == nil, let text = AgentOptions.environment["DBG_WAIT"], (Int(text) ?? -1) < 0 {
            throw ValidationError("DBG_WAIT '\(text)': expected a number of seconds")
        }
    }

    var timeoutSeconds: Int {
        connectTimeout ?? entry?.connectTimeout ?? AgentOptions.environment["DBG_CONNECT_TIMEOUT"].flatMap { Int($0) } ?? 10
    }

    var waitSeconds: Int { wait ?? entry?.wait ?? AgentOptions.environment["DBG_WAIT"].flatMap { Int($0) } ?? 0 }

    func connect() throws -> AgentConnection {
        try attempt("connecting to \(target)") { try AgentReach(target: target, timeoutSeconds: timeoutSeconds).connect(within: waitSeconds) }
    }

    /// For the distro service: a connection with a session, except on a Unix socket, where
    /// the agent takes the client process's own user.
    func distroConnection() throws -> AgentConnection {
        if case .unix = try? AgentTarget.parse(target) { return try connect() }
        return try login().connection
    }

    /// A connection with a session; authentication failures exit 254.
    func login() throws -> LoggedInAgent {
        let connection = try connect()
        let password = try self.password()
        do {
            let session = try connection.authenticate(user: userName, password: password)
            return LoggedInAgent(connection: connection, token: WireBytes(session.token.string), session: session)
        } catch {
            Terminal.error("dbg: logging in as \(userName) on \(target): \(error.message)")
            if case .remote(let code, _, _) = error, code == .denied || code == .badRequest || code == .busy {
                throw ExitCode(ExitStatus.authentication)
            }
            throw ExitCode(status(of: error))
        }
    }

    private func password() throws -> String {
        if let passwordFile = passwordPath {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                Terminal.error("dbg: cannot read the password file \(passwordFile)")
                throw ExitCode(ExitStatus.authentication)
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        if let password = ProcessInfo.processInfo.environment["DBG_PASSWORD"] { return password }
        guard Terminal.stdinIsTerminal, let typed = PasswordPrompt.read("Password for \(userName)@\(target): ") else {
            Terminal.error("dbg: no password: use --password-file FILE or DBG_PASSWORD (stdin is not a terminal)")
            throw ExitCode(ExitStatus.authentication)
        }
        return typed
    }
}

struct LoggedInAgent {
    let connection: AgentConnection
    let token: WireBytes
    let session: Dbg.SessionInfo
}

/// Reads a line from the terminal with echo off, restoring the terminal afterwards.
enum PasswordPrompt {
    static func read(_ prompt: String) -> String? {
        let tty = open("/dev/tty", O_RDWR)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        tcsetattr(tty, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            _ = write(tty, "\n", 1)
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(tty, &byte, 1) == 1, byte != 0x0a { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }
}
