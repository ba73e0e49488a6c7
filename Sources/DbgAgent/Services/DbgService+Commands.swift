import CSys
import DbgWire

/// RunCommand and RunShell: a child process per request in the process host, its output
/// captured; its answer is queued when it has been reaped (`deliver`).
extension DbgService {
    func runCommand(_ exec: Dbg.ExecRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try run(exec, throughShell: false, request, connection)
    }

    func runShell(_ exec: Dbg.ExecRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try run(exec, throughShell: true, request, connection)
    }

    private func run(_ exec: Dbg.ExecRequest, throughShell: Bool, _ request: FrameHeader,
                     _ connection: borrowing Connection) throws(ServiceError) {
        let session = try session(for: exec.token, on: connection)
        let account = session.user.account
        guard exec.timeoutSec >= 0 else { throw ServiceError(.badRequest, "TimeoutSec: must not be negative (0 means the default)") }
        guard !exec.command.containsNUL else { throw ServiceError(.badRequest, "Command: contains a NUL byte") }
        guard !exec.cwd.containsNUL else { throw ServiceError(.badRequest, "Cwd: contains a NUL byte") }
        let argv: [[UInt8]]
        if throughShell {
            guard !exec.command.isEmpty else { throw ServiceError(.badRequest, "Command: empty") }
            argv = [Array(account.shell.utf8), Array("-c".utf8), exec.command.bytes]
        } else {
            argv = try CommandSplitter.argv(ofCommand: exec.command.bytes)
        }
        let cwd = DbgService.workingDirectory(exec.cwd.bytes, home: Array(account.home.utf8))
        if let problem = DbgService.directoryProblem(cwd, as: account) { throw problem }
        let timeout = exec.timeoutSec == 0 ? execTimeoutSeconds : min(Int64(exec.timeoutSec), maxExecTimeoutSeconds)
        let spec = LaunchSpec(argv: argv, environment: UserEnvironment.variables(for: account),
                              searchPath: UserEnvironment.searchPath(for: account), cwd: cwd,
                              identity: UserEnvironment.identity(for: account))
        do throws(ProcessHost.StartError) {
            try core.processes.startCommand(spec, timeoutSeconds: timeout, reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw error.serviceError(program: argv[0], throughShell: throughShell)
        }
    }

    /// Empty: the home directory; relative: under it.
    static func workingDirectory(_ cwd: [UInt8], home: [UInt8]) -> [UInt8] {
        if cwd.isEmpty { return home }
        if cwd.first == UInt8(ascii: "/") { return cwd }
        return home + [UInt8(ascii: "/")] + cwd
    }

    /// Why `path` cannot be a working directory, checked before anything runs, as the
    /// user (so the answer tells nothing the user could not see).
    static func directoryProblem(_ path: [UInt8], as account: UserAccount) -> ServiceError? {
        var info = stat()
        let text = String(decoding: path, as: UTF8.self)
        do throws(Errno) {
            try UserFiles.run(as: UserEnvironment.identity(for: account)) { () throws(Errno) in
                try PathWalk.at(path, followLast: true) { directory, name throws(Errno) in
                    if FileTree.withCPath(name, { fstatat(directory, $0, &info, 0) }) != 0 { throw .current }
                }
            }
        } catch {
            if error == .noEntry { return ServiceError(.notFound, "Cwd: no such directory: \(text)") }
            if error == .notDirectory { return ServiceError(.badRequest, "Cwd: not a directory: \(text)") }
            if error == .accessDenied { return ServiceError(.denied, "Cwd: permission denied") }
            return ServiceError(.io, errno: error.code, "Cwd: \(text): \(error.message)")
        }
        return info.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR ? nil : ServiceError(.badRequest, "Cwd: not a directory: \(text)")
    }
}
