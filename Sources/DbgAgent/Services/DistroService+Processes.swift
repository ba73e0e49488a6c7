import CSys
import DbgWire

/// Run and the shells: a program started inside the rootfs (ContainerSpec), captured
/// or on a PTY like its dbg counterpart.
extension DistroService {
    static let shell = Array("/bin/sh".utf8)

    func run(_ run: Distro.RunRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let caller = try caller(connection)
        let argv = try CommandSplitter.argv(ofCommand: run.command.bytes)
        var spec = try launchSpec(caller, workdir: run.workdir, bind: run.bind, env: run.env, terminal: false)
        spec.argv = argv
        if !run.input.isEmpty {
            let fd = run.input.withUnsafeBytes { csys_input_file($0.baseAddress, $0.count) }
            guard fd >= 0 else { throw ServiceError.io("Input", .current) }
            spec.stdin = FileDescriptor(fd)
        }
        defer { spec.stdin?.close() }  // the child has its own
        do throws(ProcessHost.StartError) {
            try core.processes.startCommand(spec, timeoutSeconds: maxRunSeconds,
                                            reply: ReplyAddress(connection: connection.ref, request: request))
        } catch {
            throw error.serviceError(program: argv[0], throughShell: false, container: spec.container)
        }
    }

    #if !DBG_NO_SHELLS
    func openShell(_ open: Distro.ShellOpenRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let caller = try caller(connection)
        let size = try ProcessHost.terminalSize(open.rows, open.cols)
        var spec = try launchSpec(caller, workdir: open.workdir, bind: open.bind, env: open.env, terminal: true)
        // A login shell, as on the host.
        spec.program = DistroService.shell
        spec.argv = [Array("-sh".utf8)]
        try relay.open(spec, size, ownerSerial: caller.sessionSerial, request, &connection)
    }

    func shellInput(_ input: Distro.ShellInputRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try relay.input(input.data, try ownedShell(input.sessionID, connection), request, &connection)
    }

    func resizeShell(_ resize: Distro.ShellResizeRequest, _ request: FrameHeader,
                     _ connection: inout Connection) throws(ServiceError) {
        try relay.resize(try ownedShell(resize.sessionID, connection), rows: resize.rows, cols: resize.cols, request, &connection)
    }

    func closeShell(_ close: Distro.ShellCloseRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        relay.close(try ownedShell(close.sessionID, connection), request, &connection)
    }

    /// The distro shell `id`, if it was opened on this connection.
    private func ownedShell(_ id: UInt32, _ connection: borrowing Connection) throws(ServiceError) -> Int {
        _ = try admission(connection)
        guard let index = core.processes.runningShell(id, service: ServiceID.distro) else {
            throw ServiceError(.notFound, "no distro shell with SessionID \(id)")
        }
        guard core.processes.shells[index].reply.connection == connection.ref else {
            throw ServiceError(.denied, "shell \(id) belongs to another connection")
        }
        return index
    }

    /// Everything of a Run or ShellOpen but the program: the rootfs, binds, environment
    /// and directory.
    #endif

    func launchSpec(_ caller: Caller, workdir: WireBytes, bind: WireBytes, env: WireBytes,
                            terminal: Bool) throws(ServiceError) -> LaunchSpec {
        guard root.isInstalled, pending?.kind != .remove || pending?.result != nil else {
            throw ServiceError(.notFound, "no distro is installed at \(root.description) (Install one first)")
        }
        for (name, field) in [("Workdir", workdir), ("Bind", bind), ("Env", env)] where field.containsNUL {
            throw ServiceError(.badRequest, "\(name): contains a NUL byte")
        }
        let identity = UserEnvironment.identity(for: caller.account)
        let binds = try DistroService.binds(bind.bytes, as: identity)
        var environment = DistroService.baseEnvironment(caller.account, terminal: terminal)
        try DistroService.apply(env.bytes, to: &environment)
        let path = environment.first { $0.starts(with: Array("PATH=".utf8)) }.map { Array($0.dropFirst(5)) }
        var cwd = workdir.bytes.isEmpty ? [UInt8(ascii: "/")] : workdir.bytes
        if cwd.first != UInt8(ascii: "/") { cwd = [UInt8(ascii: "/")] + cwd }
        let userNamespace: (uid: UInt32, gid: UInt32)? = geteuid() == 0 ? nil : (geteuid(), getegid())
        return LaunchSpec(argv: [], environment: environment, searchPath: path ?? UserEnvironment.rootPath, cwd: cwd,
                          identity: identity,
                          container: ContainerSpec(root: root.path, hostname: root.hostname, binds: binds,
                                                   userNamespace: userNamespace))
    }

    /// HOME (/root for root, else /), USER, LOGNAME, SHELL (/bin/sh) and PATH, plus TERM
    /// on a terminal. The host's home and shell need not exist inside.
    static func baseEnvironment(_ account: UserAccount, terminal: Bool) -> [[UInt8]] {
        let home = account.uid == 0 ? "/root" : "/"
        var variables = [("HOME=", home), ("USER=", account.name), ("LOGNAME=", account.name), ("SHELL=", "/bin/sh")]
            .map { Array($0.0.utf8) + Array($0.1.utf8) }
        variables.append(Array("PATH=".utf8) + UserEnvironment.rootPath)
        if terminal { variables.append(UserEnvironment.terminalType) }
        return variables
    }

    /// Env: `KEY=VALUE` lines (empty lines skipped); a KEY already set is replaced.
    static func apply(_ env: [UInt8], to environment: inout [[UInt8]]) throws(ServiceError) {
        for (number, rawLine) in env.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = Array(rawLine)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty { continue }
            guard UserEnvironment.set(line, in: &environment) else {
                throw ServiceError(.badRequest, "Env: line \(number + 1) is not KEY=VALUE")
            }
        }
    }

    /// Bind: `HOST:CONTAINER` entries separated by commas, both absolute. The host path
    /// must exist and be visible to the caller (checked with the caller's permissions).
    static func binds(_ text: [UInt8], as identity: UserAccount?) throws(ServiceError) -> [ContainerSpec.Bind] {
        var binds: [ContainerSpec.Bind] = []
        for entry in text.split(separator: UInt8(ascii: ",")) {
            let shown = String(decoding: entry, as: UTF8.self)
            guard let colon = entry.firstIndex(of: UInt8(ascii: ":")) else {
                throw ServiceError(.badRequest, "Bind: '\(shown)' is not HOST:CONTAINER")
            }
            let source = Array(entry[..<colon])
            let target = Array(entry[(colon + 1)...])
            guard source.first == UInt8(ascii: "/"), target.first == UInt8(ascii: "/") else {
                throw ServiceError(.badRequest, "Bind: '\(shown)': both paths must be absolute")
            }
            guard binds.count < Int(CSYS_MAX_BINDS) else {
                throw ServiceError(.badRequest, "Bind: at most \(CSYS_MAX_BINDS) entries")
            }
            let hostPath = String(decoding: source, as: UTF8.self)
            do throws(Errno) {
                let found = try UserFiles.run(as: identity) { () throws(Errno) -> Dbg.FileInfo in
                    var status = stat()
                    guard FileTree.withCPath(source, { stat($0, &status) }) == 0 else { throw .current }
                    return FileTree.info(status)
                }
                binds.append(ContainerSpec.Bind(source: source, target: target,
                                                sourceIsDirectory: found.type == Dbg.FileType.directory.rawValue))
            } catch where error == .noEntry {
                throw ServiceError(.notFound, "Bind: no such host path: \(hostPath)")
            } catch where error == .accessDenied {
                throw ServiceError(.denied, "Bind: permission denied: \(hostPath)")
            } catch {
                throw .io("Bind: \(hostPath)", error)
            }
        }
        return binds
    }
}
