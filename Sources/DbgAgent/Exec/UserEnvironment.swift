import CSys

/// What every process started for a user gets: PATH, and an environment made of the
/// user's passwd entry and nothing of the agent's own.
enum UserEnvironment {
    static let rootPath: [UInt8] = Array("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".utf8)
    static let userPath: [UInt8] = Array("/usr/local/bin:/usr/bin:/bin".utf8)
    /// What a shell on a PTY is told it runs on.
    static let terminalType = Array("TERM=xterm-256color".utf8)

    static func searchPath(for account: UserAccount) -> [UInt8] {
        account.uid == 0 ? rootPath : userPath
    }

    /// HOME, USER, LOGNAME, SHELL and PATH, plus `extra` ("TERM=..." for terminals).
    static func variables(for account: UserAccount, extra: [[UInt8]] = []) -> [[UInt8]] {
        let named = [("HOME=", account.home), ("USER=", account.name), ("LOGNAME=", account.name), ("SHELL=", account.shell)]
        return named.map { Array($0.0.utf8) + Array($0.1.utf8) } + [Array("PATH=".utf8) + searchPath(for: account)] + extra
    }

    /// Sets a `NAME=value` entry, replacing an entry of the same NAME; false when it has
    /// no `=` or an empty NAME.
    static func set(_ entry: [UInt8], in environment: inout [[UInt8]]) -> Bool {
        guard let equals = entry.firstIndex(of: UInt8(ascii: "=")), equals > 0 else { return false }
        let key = entry[...equals]
        if let existing = environment.firstIndex(where: { $0.starts(with: key) }) {
            environment[existing] = entry
        } else {
            environment.append(entry)
        }
        return true
    }

    /// Whose identity a child takes: the user's when the agent is root, else the agent's
    /// own (which is the user's: a non-root agent only lets its own user in).
    static func identity(for account: UserAccount) -> UserAccount? {
        geteuid() == 0 ? account : nil
    }

    /// The user's login shell (argv[0] its name with a leading '-', as login(1) starts
    /// it) in `cwd`, for a terminal.
    static func loginShell(for account: UserAccount, cwd: [UInt8]) -> LaunchSpec {
        let program = Array(account.shell.utf8)
        let name = program.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? program
        return LaunchSpec(program: program, argv: [[UInt8(ascii: "-")] + name],
                          environment: variables(for: account, extra: [terminalType]),
                          searchPath: searchPath(for: account), cwd: cwd, identity: identity(for: account))
    }
}
