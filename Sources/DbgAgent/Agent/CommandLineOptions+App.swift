import CSys

/// The application runtime's flags (AppConfig).
extension CommandLineOptions {
    static let appUsage = """
        Application runtime (seed 002; on with --app-dir or --rpc-socket, or when
        /etc/dbgd/app exists):
              --app-dir DIR             main, hooks, actions and backup (default /etc/dbgd/app)
              --app-user USER           who runs them (default: the directory's owner)
              --rpc-socket PATH|none    the JSON-RPC socket (default /run/dbgd/service.sock)
              --rpc-group GROUP         its group (mode 0660), whose members may call
                                        besides root (default: root only, mode 0600)
              --rpc-connections N       socket connections at once (default 8, 1..256)
              --backup-dir DIR          where backups are written (default /var/lib/dbgd/backups)
              --app-stop-timeout SEC    SIGKILL this long after SIGTERM (default 10)
              --app-restart no|on-failure  restart main when it fails, with a growing
                                        delay (1 s doubling to 30 s; default no)
              --app-log-size BYTES      the ring of main's output lines (default 256K, 16K..64M)
              --app-timeout SEC         a procedure's limit when the call gives none (default 300)
        """

    enum AppKey {
        static let directory: UInt8 = 40
        static let user: UInt8 = 41
        static let rpcSocket: UInt8 = 42
        static let rpcGroup: UInt8 = 43
        static let rpcConnections: UInt8 = 44
        static let backupDirectory: UInt8 = 45
        static let stopTimeout: UInt8 = 46
        static let restart: UInt8 = 47
        static let logSize: UInt8 = 48
        static let timeout: UInt8 = 49
    }

    static let appOptions: [(StaticString, UInt8)] = [
        ("app-dir", AppKey.directory), ("app-user", AppKey.user), ("rpc-socket", AppKey.rpcSocket),
        ("rpc-group", AppKey.rpcGroup), ("rpc-connections", AppKey.rpcConnections), ("backup-dir", AppKey.backupDirectory),
        ("app-stop-timeout", AppKey.stopTimeout), ("app-restart", AppKey.restart), ("app-log-size", AppKey.logSize),
        ("app-timeout", AppKey.timeout),
    ]

    /// Sets what an application runtime flag says; nil when `key` is not one of them.
    static func applyApp(_ key: UInt8, _ argument: String, to config: inout AppConfig) -> ConfigError?? {
        #if DBG_NO_APP
        if key >= AppKey.directory && key <= AppKey.timeout {
            return .some(ConfigError("--app-*, --rpc-* and --backup-dir: this dbgd was built without the application runtime (DBG_APP=OFF)"))
        }
        #endif
        switch key {
        case AppKey.directory, AppKey.backupDirectory:
            let name = key == AppKey.directory ? "--app-dir" : "--backup-dir"
            guard argument.utf8.first == UInt8(ascii: "/"), argument.utf8.count > 1 else {
                return .some(ConfigError(name + " '" + argument + "': needs an absolute path other than /"))
            }
            if key == AppKey.directory {
                config.directory = argument
                config.directoryGiven = true
            } else {
                config.backupDirectory = argument
            }
        case AppKey.user, AppKey.rpcGroup:
            guard !argument.isEmpty else { return .some(ConfigError(key == AppKey.user ? "--app-user needs a user name" : "--rpc-group needs a group name")) }
            if key == AppKey.user { config.user = argument } else { config.rpcGroup = argument }
        case AppKey.rpcSocket:
            guard !argument.isEmpty else { return .some(ConfigError("--rpc-socket needs a path, or none")) }
            config.rpcSocket = Array(argument.utf8) == Array("none".utf8) ? nil : argument
            config.rpcSocketGiven = true
        case AppKey.rpcConnections:
            guard let count = parseCount(argument, in: AppConfig.rpcConnectionsRange) else {
                return .some(ConfigError("--rpc-connections '" + argument + "': expected a number from 1 to 256"))
            }
            config.rpcConnections = count
        case AppKey.stopTimeout, AppKey.timeout:
            let name = key == AppKey.stopTimeout ? "--app-stop-timeout" : "--app-timeout"
            guard let seconds = parseSeconds(argument), seconds > 0, seconds <= 86_400 else {
                return .some(ConfigError(name + " '" + argument + "': expected whole seconds (1 to 86400)"))
            }
            if key == AppKey.stopTimeout { config.stopTimeoutMs = seconds * 1000 } else { config.timeoutSeconds = Int64(seconds) }
        case AppKey.restart:
            switch Array(argument.utf8) {
            case Array("no".utf8): config.restartOnFailure = false
            case Array("on-failure".utf8): config.restartOnFailure = true
            default: return .some(ConfigError("--app-restart '" + argument + "': expected no or on-failure"))
            }
        case AppKey.logSize:
            guard let bytes = parseByteSize(argument), bytes <= UInt64(AppConfig.logBytesRange.upperBound),
                  AppConfig.logBytesRange.contains(Int(bytes)) else {
                return .some(ConfigError("--app-log-size '" + argument + "': expected a size from 16K to 64M"))
            }
            config.logBytes = Int(bytes)
        default:
            return nil
        }
        return .some(nil)
    }
}
