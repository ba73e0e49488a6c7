/// The application runtime's flags (seed 002; board/README.md). The runtime is on when
/// --app-dir or --rpc-socket is given, or when the default directory exists.
struct AppConfig: Equatable {
    static let defaultDirectory = "/etc/dbgd/app"
    static let defaultSocket = "/run/dbgd/service.sock"

    var directory = AppConfig.defaultDirectory
    var directoryGiven = false
    /// nil: no socket (`--rpc-socket none`); the runtime is still reachable with a session.
    var rpcSocket: String? = AppConfig.defaultSocket
    var rpcSocketGiven = false
    /// Whose members may call besides root (the socket's group).
    var rpcGroup: String?
    /// Connections to the socket at once.
    var rpcConnections = 8
    /// Who runs main, the hooks and the actions; nil: the app directory's owner.
    var user: String?
    var backupDirectory = "/var/lib/dbgd/backups"
    var stopTimeoutMs: Milliseconds = 10_000
    var restartOnFailure = false
    /// The log ring of main's output.
    var logBytes = 256 << 10
    /// A procedure's time limit when its call gives none.
    var timeoutSeconds: Int64 = 300

    static let rpcConnectionsRange = 1...256
    static let logBytesRange = (16 << 10)...(64 << 20)
    /// A call's `timeout` (milliseconds) and --app-timeout stay within a day.
    static let maxTimeoutMs: Int64 = 86_400_000

    init() {}
}

extension AgentConfig {
    /// Runtime messages in flight: one per socket connection, and per Sutra or HTTP connection.
    static func appMessages(_ config: AgentConfig) -> Int {
        config.app.rpcConnections + config.maxConnections + (config.http.isOn ? config.http.connections : 0)
    }
}
