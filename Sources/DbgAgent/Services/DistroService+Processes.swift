import CSys
import DbgWire

/// Run and the shells: a program started inside the rootfs (ContainerSpec), captured
/// or on a PTY like its dbg counterpart.
extension DistroService {
    static let shell = Array("/bin/sh".utf8)

    func run(_ run: Distro.RunRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let caller = caller(request, &connection) else { return }
        guard !run.command.containsNUL else { return connection.fail(request, .badRequest, "Command: contains a NUL byte") }
        let argv: [[UInt8]]
        switch CommandSplitter.split(run.command.bytes) {
        case .success(let words): argv = words
        case .failure(let error): return connection.fail(request, .badRequest, error.message)
        }
        guard var spec = launchSpec(caller, workdir: run.workdir, bind: run.bind, env: run.env, terminal: false,
                                    request, &connection) else { return }
        spec.argv = argv
        guard let index = dbg.commands.freeSlot else {
            return connection.fail(request, .busy, "all \(dbg.commands.capacity) command slots are in use; try again")
        }
        var input: FileDescriptor?
        if !run.input.isEmpty {
            let fd = run.input.withUnsafeBytes { csys_input_file($0.baseAddress, $0.count) }
            guard fd >= 0 else {
                let error = Errno.current
                return connection.fail(request, .io, errno: error.code, "Input: \(error.message)")
            }
            input = FileDescriptor(fd)
        }
        spec.stdin = input
        let failure = dbg.startCommand(spec, in: index, service: ServiceID.distro, timeoutSeconds: maxRunSeconds, request, connection)
        input?.close()  // the child has its own
        if let failure {
            let (code, message) = DbgService.describe(failure, program: argv[0], throughShell: false, container: spec.container)
            connection.fail(request, code, errno: code == .io ? failure.errno.code : 0, message)
        }
    }

    func openShell(_ open: Distro.ShellOpenRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard let caller = caller(request, &connection) else { return }
        guard let (rows, cols) = dbg.terminalSize(open.rows, open.cols, request, &connection) else { return }
        guard var spec = launchSpec(caller, workdir: open.workdir, bind: open.bind, env: open.env, terminal: true,
                                    request, &connection) else { return }
        // A login shell, as on the host.
        spec.program = DistroService.shell
        spec.argv = [Array("-sh".utf8)]
        dbg.startShell(spec, rows: rows, cols: cols, service: ServiceID.distro, ownerSerial: caller.sessionSerial, request,
                       &connection)
    }

    /// The distro shell `id`, if it was opened on this connection; otherwise answers.
    func ownedShell(_ id: UInt32, _ request: FrameHeader, _ connection: inout Connection) -> Int? {
        guard admission(request, &connection) != nil else { return nil }
        guard let index = dbg.shells.index(of: id), dbg.shells[index].state == .running,
              dbg.shells[index].service == ServiceID.distro else {
            connection.fail(request, .notFound, "no distro shell with SessionID \(id)")
            return nil
        }
        guard dbg.shells[index].connectionSlot == connection.slot,
              dbg.shells[index].connectionGeneration == connection.generation else {
            connection.fail(request, .denied, "shell \(id) belongs to another connection")
            return nil
        }
        return index
    }

    /// Everything of a Run or ShellOpen but the program: the rootfs, binds, environment
    /// and directory. Nil after answering why the request cannot run.
    private func launchSpec(_ caller: Caller, workdir: WireBytes, bind: WireBytes, env: WireBytes, terminal: Bool,
                            _ request: FrameHeader, _ connection: inout Connection) -> LaunchSpec? {
        guard root.isInstalled, pending?.kind != .remove || pending?.result != nil else {
            connection.fail(request, .notFound, "no distro is installed at \(root.description) (Install one first)")
            return nil
        }
        for (name, field) in [("Workdir", workdir), ("Bind", bind), ("Env", env)] where field.containsNUL {
            connection.fail(request, .badRequest, "\(name): contains a NUL byte")
            return nil
        }
        let identity = UserEnvironment.identity(for: caller.account)
        let binds: [ContainerSpec.Bind]
        switch DistroService.binds(bind.bytes, as: identity) {
        case .failure(let failure):
            fail(failure, request, &connection)
            return nil
        case .success(let parsed): binds = parsed
        }
        var environment = DistroService.baseEnvironment(caller.account, terminal: terminal)
        switch DistroService.apply(env.bytes, to: &environment) {
        case .failure(let failure):
            fail(failure, request, &connection)
            return nil
        case .success: break
        }
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
        if terminal { variables.append(DbgService.terminalType) }
        return variables
    }

    /// Env: `KEY=VALUE` lines (empty lines skipped); a KEY already set is replaced.
    static func apply(_ env: [UInt8], to environment: inout [[UInt8]]) -> Result<Void, DistroFailure> {
        for (number, rawLine) in env.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = Array(rawLine)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if line.isEmpty { continue }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")), equals > 0 else {
                return .failure(DistroFailure(.badRequest, "Env: line \(number + 1) is not KEY=VALUE"))
            }
            let key = line[...equals]
            if let existing = environment.firstIndex(where: { $0.starts(with: key) }) {
                environment[existing] = line
            } else {
                environment.append(line)
            }
        }
        return .success(())
    }

    /// Bind: `HOST:CONTAINER` entries separated by commas, both absolute. The host path
    /// must exist and be visible to the caller (checked with the caller's permissions).
    static func binds(_ text: [UInt8], as identity: UserAccount?) -> Result<[ContainerSpec.Bind], DistroFailure> {
        var binds: [ContainerSpec.Bind] = []
        for entry in text.split(separator: UInt8(ascii: ",")) {
            let shown = String(decoding: entry, as: UTF8.self)
            guard let colon = entry.firstIndex(of: UInt8(ascii: ":")) else {
                return .failure(DistroFailure(.badRequest, "Bind: '\(shown)' is not HOST:CONTAINER"))
            }
            let source = Array(entry[..<colon])
            let target = Array(entry[(colon + 1)...])
            guard source.first == UInt8(ascii: "/"), target.first == UInt8(ascii: "/") else {
                return .failure(DistroFailure(.badRequest, "Bind: '\(shown)': both paths must be absolute"))
            }
            guard binds.count < Int(CSYS_MAX_BINDS) else {
                return .failure(DistroFailure(.badRequest, "Bind: at most \(CSYS_MAX_BINDS) entries"))
            }
            let info = UserFiles.run(as: identity) { () -> Result<Dbg.FileInfo, Errno> in
                var status = stat()
                guard FileTree.withCPath(source, { stat($0, &status) }) == 0 else { return .failure(.current) }
                return .success(FileTree.info(status))
            }
            let hostPath = String(decoding: source, as: UTF8.self)
            switch info {
            case .success(.success(let found)):
                binds.append(ContainerSpec.Bind(source: source, target: target,
                                                sourceIsDirectory: found.type == Dbg.FileType.directory.rawValue))
            case .success(.failure(let error)) where error.code == CSYS_ENOENT:
                return .failure(DistroFailure(.notFound, "Bind: no such host path: \(hostPath)"))
            case .success(.failure(let error)) where error.code == CSYS_EACCES:
                return .failure(DistroFailure(.denied, "Bind: permission denied: \(hostPath)"))
            case .success(.failure(let error)), .failure(let error):
                return .failure(.io("Bind: \(hostPath)", error))
            }
        }
        return .success(binds)
    }
}
