import DbgClient
import DbgPlatform
import DbgWire
import Glibc

/// Where the agent is, and who to log in as: dbg's own options, taken before the command
/// or after it.
struct AgentOptions {
    static let specs: [OptionSpec] = [
        .option("host", "H", "TARGET", "Agent: HOST[:PORT], [IPv6]:PORT, unix:/PATH, serial:DEVICE[,BAUD], mdns:NAME, "
            + "socket://HOST:PORT[,BAUD] or rfc2217://HOST:PORT[,BAUD] (env DBG_HOST; default 127.0.0.1:5037)."),
        .option("user", "u", "USER", "User to log in as (env DBG_USER; default root)."),
        .option("password-file", nil, "FILE",
                "Read the password from the first line of this file (env DBG_PASSWORD_FILE; else env DBG_PASSWORD, else a prompt)."),
        .option("connect-timeout", nil, "SEC", "Seconds to wait for the agent to connect and answer (env DBG_CONNECT_TIMEOUT; "
            + "default 10; commands and shells wait as long as they run)."),
        .option("wait", nil, "SEC", "Seconds to keep trying while the agent cannot be reached yet, after a flash or a reboot "
            + "(env DBG_WAIT; default 0)."),
        .option("board", "b", "NAME", "A board named in the config file (env DBG_BOARD; see dbg boards)."),
        .flag("tls", nil, "TCP with TLS, as tls://HOST:PORT (env DBG_TLS=1); the board's key is checked against known_agents."),
        .flag("accept-new", nil, "TLS: trust a board not yet in known_agents and record its key (env DBG_ACCEPT_NEW=1)."),
        .option("fingerprint", nil, "SHA256:KEY", "TLS: trust only this board key (as the agent logs it: 'board key ...')."),
    ]

    var host: String?
    var user: String?
    var passwordFile: String?
    var connectTimeout: Int?
    var wait: Int?
    var board: String?
    var tls: Bool
    var acceptNew: Bool
    var fingerprint: String?
    /// The named board's entry: what the command line does not say comes from it.
    private var entry: BoardConfig.Board?

    init(_ arguments: ParsedArguments) throws {
        host = arguments.value("host")
        user = arguments.value("user")
        passwordFile = arguments.value("password-file")
        board = arguments.value("board")
        tls = arguments.flag("tls")
        acceptNew = arguments.flag("accept-new")
        fingerprint = arguments.value("fingerprint")
        if let fingerprint, !fingerprint.hasPrefix("SHA256:") {
            Terminal.error("dbg: --fingerprint '\(fingerprint)': expected SHA256:... (as the agent logs it)")
            throw ExitCode(ExitStatus.usage)
        }
        connectTimeout = try arguments.int("connect-timeout", in: 1...86_400)
        wait = try arguments.int("wait", in: 0...86_400)
        entry = try Self.namedBoard(board)
        if connectTimeout == nil, entry?.connectTimeout == nil, let text = Environment["DBG_CONNECT_TIMEOUT"] {
            _ = try ParsedArguments.number(text, "DBG_CONNECT_TIMEOUT", in: 1...86_400)
        }
        if wait == nil, entry?.wait == nil, let text = Environment["DBG_WAIT"] {
            _ = try ParsedArguments.number(text, "DBG_WAIT", in: 0...86_400)
        }
    }

    /// The target as given, made tls:// by --tls (or the board's `tls = yes`, or DBG_TLS=1).
    var target: String {
        let given = host ?? entry?.target ?? Environment["DBG_HOST"] ?? "127.0.0.1:\(AgentTarget.defaultPort)"
        guard usesTLS, case .tcp = try? AgentTarget.parse(given) else { return given }
        return "tls://" + given
    }

    private var usesTLS: Bool { tls || entry?.tls ?? (Environment["DBG_TLS"] == "1") }

    /// How a tls:// target's board key is checked, and the client key shown for key login.
    func trust() throws(ClientError) -> TLSTrust? {
        guard case .tls(let host, let port) = try AgentTarget.parse(target) else { return nil }
        let clientKey: TLSKey?
        do throws(LocalFailure) { clientKey = try ClientKeyFile.load() } catch { throw .usage(error.message) }
        let policy = BoardTrust(address: AgentTarget.tcp(host: host, port: port).description,
                                expected: fingerprint ?? entry?.fingerprint,
                                acceptNew: acceptNew || Environment["DBG_ACCEPT_NEW"] == "1")
        return TLSTrust(clientKey: clientKey) { (presented: String) throws(ClientError) in try policy.check(presented) }
    }

    var userName: String { user ?? entry?.user ?? Environment["DBG_USER"] ?? "root" }

    private var passwordPath: String? { passwordFile ?? entry?.passwordFile ?? Environment["DBG_PASSWORD_FILE"] }

    /// The entry of --board (or DBG_BOARD), if one is named.
    private static func namedBoard(_ board: String?) throws -> BoardConfig.Board? {
        guard let name = board ?? Environment.nonEmpty("DBG_BOARD") else { return nil }
        let config = try BoardConfig.loadForCommand()
        guard let found = config.boards.first(where: { $0.name == name }) else {
            Terminal.error("dbg: no board named '\(name)' in \(config.path) (dbg boards lists them)")
            throw ExitCode(ExitStatus.usage)
        }
        return found
    }

    var timeoutSeconds: Int {
        connectTimeout ?? entry?.connectTimeout ?? Environment["DBG_CONNECT_TIMEOUT"].flatMap { Int($0) } ?? 10
    }

    var waitSeconds: Int { wait ?? entry?.wait ?? Environment["DBG_WAIT"].flatMap { Int($0) } ?? 0 }

    /// A connection to the agent: through the connection master of this user and target
    /// when there is one (dbg connect), else a new one.
    func connect() throws -> AgentConnection {
        if let shared = throughMaster() { return shared }
        return try connectDirectly()
    }

    private func connectDirectly() throws -> AgentConnection {
        try attempt("connecting to \(target)") {
            try AgentReach(target: target, timeoutSeconds: timeoutSeconds, tls: try trust()).connect(within: waitSeconds)
        }
    }

    /// The connection master's connection, if there is one to use.
    private func throughMaster() -> AgentConnection? {
        guard let parsed = try? AgentTarget.parse(target) else { return nil }
        return MasterSocket(target: parsed, user: userName).connect()
    }

    /// For the distro service: a connection with a session, except on a Unix socket, where
    /// the agent takes the client process's own user.
    func distroConnection() throws -> AgentConnection {
        if let shared = throughMaster() { return shared }
        if case .unix = try? AgentTarget.parse(target) { return try connectDirectly() }
        return try login().connection
    }

    /// A connection with a session: the connection master's (unless `ownConnection`), or a
    /// new one logged in with `password` (nil: the password from the usual places).
    /// Authentication failures exit 254.
    func login(password given: String? = nil, ownConnection: Bool = false) throws -> LoggedInAgent {
        if given == nil, !ownConnection, let shared = throughMaster(), let session = shared.masterSession {
            return LoggedInAgent(connection: shared, token: WireBytes(session.token.string), session: session)
        }
        let connection = try connectDirectly()
        if given == nil, connection.showedClientKey, let session = try keyLogin(connection) {
            return LoggedInAgent(connection: connection, token: WireBytes(session.token.string), session: session)
        }
        let password = try given ?? self.password()
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

    /// Over TLS with a client key: an empty password asks the agent to log in by the key.
    /// Nil when the key is not listed for the user there (the password follows).
    private func keyLogin(_ connection: AgentConnection) throws -> Dbg.SessionInfo? {
        do throws(ClientError) {
            return try connection.authenticate(user: userName, password: "")
        } catch {
            if case .remote(let code, _, _) = error, code == .denied { return nil }
            Terminal.error("dbg: logging in as \(userName) on \(target) with the client key: \(error.message)")
            throw ExitCode(status(of: error))
        }
    }

    /// The password: from --password-file, DBG_PASSWORD, or typed at a prompt.
    func password() throws -> String {
        if let passwordFile = passwordPath {
            guard let text = LocalPath(passwordFile).text() else {
                Terminal.error("dbg: cannot read the password file \(passwordFile)")
                throw ExitCode(ExitStatus.authentication)
            }
            return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        }
        if let password = Environment["DBG_PASSWORD"] { return password }
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

/// Reads a line from the terminal (/dev/tty), with echo off for a password.
enum PasswordPrompt {
    static func read(_ prompt: String) -> String? { line(prompt, echo: false) }

    /// A question whose answer may be seen.
    static func ask(_ prompt: String) -> String? { line(prompt, echo: true) }

    private static func line(_ prompt: String, echo: Bool) -> String? {
        let tty = open("/dev/tty", O_RDWR)
        guard tty >= 0 else { return nil }
        defer { close(tty) }
        var saved = termios()
        guard tcgetattr(tty, &saved) == 0 else { return nil }
        var quiet = saved
        if !echo { quiet.c_lflag &= ~tcflag_t(ECHO) }
        _ = prompt.withCString { write(tty, $0, strlen($0)) }
        tcsetattr(tty, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(tty, TCSAFLUSH, &saved)
            if !echo { _ = write(tty, "\n", 1) }
        }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(tty, &byte, 1) == 1, byte != 0x0a { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }
}
