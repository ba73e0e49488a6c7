import CSys

/// Starting the application runtime and its socket, when they are wanted.
extension Agent {
    /// The runtime is on when --app-dir or --rpc-socket is given, or when the default
    /// directory exists (a board image that ships an application).
    static func startApp(_ config: AgentConfig, core: ServiceCore) throws(StartupError) -> (AppRuntime, RPCFrontEnd?)? {
        let app = config.app
        var status = stat()
        let exists = app.directory.withCString { stat($0, &status) } == 0
        guard app.directoryGiven || app.rpcSocketGiven || exists else { return nil }
        if exists && status.st_mode & CSYS_S_IFMT != CSYS_S_IFDIR {
            throw StartupError("--app-dir " + app.directory + ": not a directory")
        }
        var user = try appUser(config, owner: exists ? status.st_uid : geteuid())
        do throws(Errno) {
            user.groups = try GroupFile.groups(of: Array(user.name.utf8), primary: user.gid, path: config.groupPath)
        } catch {
            throw StartupError("cannot read " + config.groupPath + ": " + error.message)
        }
        var group: UInt32?
        if let name = app.rpcGroup { group = try groupID(name, config.groupPath) }
        let runtime = AppRuntime(config: app, directory: AppDirectory(path: Array(app.directory.utf8), user: user), rpcGroup: group,
                                 maxMessageBytes: Int(config.maxFrame) - 64, messageCapacity: AgentConfig.appMessages(config),
                                 core: core)
        if !exists { Log.info("app runtime: " + app.directory + " does not exist yet (dbg app deploy creates it)") }
        guard let path = app.rpcSocket else { return (runtime, nil) }
        makeParent(of: path)
        let listener = try Listener.open(.unix(path: path), unixMode: group == nil ? 0o600 : 0o660, unixGroup: group)
        do throws(StartupError) {
            return (runtime, try RPCFrontEnd(runtime: runtime, core: core, listener: listener, capacity: app.rpcConnections,
                                             passwdPath: config.passwdPath, groupPath: config.groupPath))
        } catch {
            listener.close()
            throw error
        }
    }

    /// --app-user, or the directory's owner (the agent's user while it does not exist).
    private static func appUser(_ config: AgentConfig, owner: UInt32) throws(StartupError) -> UserAccount {
        let found: UserAccount?
        do throws(Errno) {
            if let name = config.app.user {
                found = try UserAccount.find(Array(name.utf8), inPasswd: config.passwdPath)
            } else {
                found = try UserAccount.find(uid: owner, inPasswd: config.passwdPath)
            }
        } catch {
            throw StartupError("cannot read " + config.passwdPath + ": " + error.message)
        }
        guard let found else {
            throw StartupError(config.app.user.map { "--app-user " + $0 + ": no such user" }
                ?? "--app-dir " + config.app.directory + ": its owner (uid " + String(owner) + ") is not in " + config.passwdPath)
        }
        return found
    }

    private static func groupID(_ name: String, _ path: String) throws(StartupError) -> UInt32 {
        var gid: UInt32?
        do throws(Errno) {
            try TextFile.forEachLine(path) { line in
                let fields = TextFile.fields(line)
                guard fields.count == 4, fields[0].elementsEqual(name.utf8), let id = TextFile.number(fields[2]), id <= UInt32.max
                else { return true }
                gid = UInt32(id)
                return false
            }
        } catch {
            throw StartupError("cannot read " + path + ": " + error.message)
        }
        guard let gid else { throw StartupError("--rpc-group " + name + ": no such group in " + path) }
        return gid
    }

    /// /run/dbgd for the default socket (a tmpfs: gone after each boot).
    private static func makeParent(of path: String) {
        var bytes = Array(path.utf8)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")), slash > 0 else { return }
        bytes = Array(bytes[..<slash])
        _ = FileTree.withCPath(bytes) { mkdir($0, 0o755) }
    }
}
