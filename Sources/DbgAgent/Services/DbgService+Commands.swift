import CSys
import DbgWire

/// RunCommand and RunShell: a child process per request, its output captured through
/// two pipes the loop watches, its answer queued when it has been reaped.
extension DbgService {
    func run(_ exec: Dbg.ExecRequest, throughShell: Bool, _ request: FrameHeader, _ connection: inout Connection) {
        guard let session = session(for: exec.token, request, &connection) else { return }
        let account = session.user.account
        guard exec.timeoutSec >= 0 else {
            connection.fail(request, .badRequest, "TimeoutSec: must not be negative (0 means the default)")
            return
        }
        guard !exec.command.containsNUL else { return connection.fail(request, .badRequest, "Command: contains a NUL byte") }
        guard !exec.cwd.containsNUL else { return connection.fail(request, .badRequest, "Cwd: contains a NUL byte") }
        let argv: [[UInt8]]
        if throughShell {
            guard !exec.command.isEmpty else { return connection.fail(request, .badRequest, "Command: empty") }
            argv = [Array(account.shell.utf8), Array("-c".utf8), exec.command.bytes]
        } else {
            switch CommandSplitter.split(exec.command.bytes) {
            case .success(let words): argv = words
            case .failure(let error): return connection.fail(request, .badRequest, error.message)
            }
        }
        let cwd = DbgService.workingDirectory(exec.cwd.bytes, home: Array(account.home.utf8))
        if let (code, message) = DbgService.directoryProblem(cwd, as: account) { return connection.fail(request, code, message) }
        guard let index = commands.freeSlot else {
            return connection.fail(request, .busy, "all \(commands.capacity) command slots are in use; try again")
        }
        let timeout = exec.timeoutSec == 0 ? execTimeoutSeconds : min(Int64(exec.timeoutSec), maxExecTimeoutSeconds)
        let spec = LaunchSpec(argv: argv, environment: UserEnvironment.variables(for: account),
                              searchPath: UserEnvironment.searchPath(for: account), cwd: cwd,
                              identity: UserEnvironment.identity(for: account))
        if let failure = startCommand(spec, in: index, service: ServiceID.dbg, timeoutSeconds: timeout, request, connection) {
            let (code, message) = DbgService.describe(failure, program: argv[0], throughShell: throughShell)
            connection.fail(request, code, errno: failure.stage == .exec && code == .io ? failure.errno.code : 0, message)
        }
    }

    /// Starts `spec` in command slot `index` with its stdout and stderr captured (its
    /// `io` is replaced by the slot's pipes). The answer is queued once it is reaped.
    func startCommand(_ spec: LaunchSpec, in index: Int, service: UInt32, timeoutSeconds: Int64, _ request: FrameHeader,
                      _ connection: Connection) -> LaunchFailure? {
        if case .failure(let failure) = start(index, spec) { return failure }
        let now = MonotonicClock.now()
        commands[index].state = .running
        commands[index].connectionSlot = connection.slot
        commands[index].connectionGeneration = connection.generation
        commands[index].request = request
        commands[index].service = service
        commands[index].timeoutSeconds = timeoutSeconds
        commands[index].deadline = now + Milliseconds(timeoutSeconds) * 1000
        commands[index].exitCode = 0
        timer.schedule(commands[index].deadline)
        return nil
    }

    /// Empty: the home directory; relative: under it.
    static func workingDirectory(_ cwd: [UInt8], home: [UInt8]) -> [UInt8] {
        if cwd.isEmpty { return home }
        if cwd.first == UInt8(ascii: "/") { return cwd }
        return home + [UInt8(ascii: "/")] + cwd
    }

    /// Why `path` cannot be a working directory, checked before anything runs, as the
    /// user (so the answer tells nothing the user could not see).
    static func directoryProblem(_ path: [UInt8], as account: UserAccount) -> (ErrorCode, String)? {
        var info = stat()
        let text = String(decoding: path, as: UTF8.self)
        let looked = UserFiles.run(as: UserEnvironment.identity(for: account)) {
            PathWalk.at(path, followLast: true) { directory, name -> Result<Void, Errno> in
                FileTree.withCPath(name) { fstatat(directory, $0, &info, 0) } == 0 ? .success(()) : .failure(.current)
            }
        }
        if case .failure(let error) = looked.flatMap({ $0 }) {
            if error.code == CSYS_ENOENT { return (.notFound, "Cwd: no such directory: \(text)") }
            if error.code == CSYS_ENOTDIR { return (.badRequest, "Cwd: not a directory: \(text)") }
            if error.code == CSYS_EACCES { return (.denied, "Cwd: permission denied") }
            return (.io, "Cwd: \(text): \(error.message)")
        }
        return info.st_mode & CSYS_S_IFMT == CSYS_S_IFDIR ? nil : (.badRequest, "Cwd: not a directory: \(text)")
    }

    /// Creates the pipes and the process; on success the loop watches the pipes.
    private func start(_ index: Int, _ spec: LaunchSpec) -> Result<Int32, LaunchFailure> {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard csys_pipe(&outPipe) == 0 else { return .failure(LaunchFailure(stage: .stdio, errno: .current)) }
        guard csys_pipe(&errPipe) == 0 else {
            let error = Errno.current
            FileDescriptor(outPipe[0]).close()
            FileDescriptor(outPipe[1]).close()
            return .failure(LaunchFailure(stage: .stdio, errno: error))
        }
        var piped = spec
        piped.io = .pipes(stdout: FileDescriptor(outPipe[1]), stderr: FileDescriptor(errPipe[1]))
        let launched = ProcessLauncher.launch(piped)
        // The child has its own copies of the write ends (or is gone).
        FileDescriptor(outPipe[1]).close()
        FileDescriptor(errPipe[1]).close()
        let readers = [FileDescriptor(outPipe[0]), FileDescriptor(errPipe[0])]
        guard case .success(let pid) = launched else {
            readers.forEach { $0.close() }
            return launched
        }
        commands[index].pid = pid
        commands[index].stdout.start(reading: readers[0])
        commands[index].stderr.start(reading: readers[1])
        for (reader, kind) in [(readers[0], EventToken.Kind.commandStdout), (readers[1], .commandStderr)] {
            try? reader.setNonblocking()
            // If epoll refuses, the pipe is still drained when the process is reaped.
            try? loop.add(reader, .readable, EventToken(kind, index: UInt32(index), generation: commands[index].generation))
        }
        return launched
    }

    /// The error for a child that did not get to run its program. A contained one names
    /// its directory Workdir and may fail at a bind of `container`.
    static func describe(_ failure: LaunchFailure, program: [UInt8], throughShell: Bool,
                         container: ContainerSpec? = nil) -> (ErrorCode, String) {
        let name = String(decoding: program, as: UTF8.self)
        let what = throughShell ? "shell" : "command"
        let directory = container == nil ? "Cwd" : "Workdir"
        let reason = failure.errno.message
        switch (failure.stage, failure.errno.code) {
        case (.exec, CSYS_ENOENT): return (.notFound, "\(what) not found: \(name)")
        case (.exec, CSYS_EACCES): return (.denied, "permission denied: \(name)")
        case (.exec, _): return (.io, "cannot run \(name): \(reason)")
        case (.cwd, CSYS_ENOENT): return (.notFound, "\(directory): no such directory")
        case (.cwd, CSYS_ENOTDIR): return (.badRequest, "\(directory): not a directory")
        case (.cwd, CSYS_EACCES): return (.denied, "\(directory): permission denied")
        case (.cwd, _): return (.io, "\(directory): \(reason)")
        case (.identity, _): return (.internalError, "cannot switch to the user: \(reason)")
        case (.stdio, _), (.fork, _): return (.io, "cannot start a process: \(reason)")
        case (.namespace(let step), let code):
            let steps = ["create a user namespace", "map the user into its namespace",
                         "create mount, PID and UTS namespaces", "set the host name"]
            let text = "cannot \(steps[Int(min(max(step, 0), 3))]): \(reason)"
            return (code == CSYS_EPERM ? .denied : .io, text)
        case (.root, _): return (.io, "cannot enter the rootfs: \(reason)")
        case (.mount(let which), _):
            let points = ["/ (private)", "/proc", "/sys", "/dev", "/dev/pts", "/tmp"]
            return (.io, "cannot mount \(points[Int(min(max(which, 0), 5))]) in the rootfs: \(reason)")
        case (.bind(let index), _):
            guard let binds = container?.binds, index < binds.count else { return (.io, "Bind: entry \(index + 1): \(reason)") }
            let bind = binds[index]
            let source = String(decoding: bind.source, as: UTF8.self)
            let target = String(decoding: bind.target, as: UTF8.self)
            return (.io, "Bind: cannot bind \(source) to \(target): \(reason)")
        }
    }

    // MARK: Output, exits, timeouts

    /// A pipe of a running command is readable.
    func commandOutputReady(_ token: EventToken) {
        let index = Int(token.index)
        guard index < commands.capacity, commands[index].state == .running,
              EventToken(token.kind, index: token.index, generation: commands[index].generation) == token else { return }
        if token.kind == .commandStdout {
            if commands[index].stdout.drain(discard: commands.discard) { closePipe(&commands[index].stdout) }
        } else {
            if commands[index].stderr.drain(discard: commands.discard) { closePipe(&commands[index].stderr) }
        }
    }

    private func closePipe(_ capture: inout OutputCapture) {
        guard let pipe = capture.pipe else { return }
        loop.remove(pipe)
        pipe.close()
        capture.pipe = nil
    }

    /// SIGCHLD: reaps the commands that exited. Only our own pids are waited for: the
    /// worker threads' PAM modules reap the helpers they start themselves.
    func reapCommands(_ ready: (Int) -> Void) {
        for index in 0..<commands.capacity where commands[index].state == .running {
            var status: Int32 = 0
            guard waitpid(commands[index].pid, &status, CSYS_WNOHANG) == commands[index].pid else { continue }
            // What it wrote is in the pipes now. A child it left running (a daemon) may
            // keep them open: the answer does not wait for that.
            _ = commands[index].stdout.drain(discard: commands.discard)
            _ = commands[index].stderr.drain(discard: commands.discard)
            closePipe(&commands[index].stdout)
            closePipe(&commands[index].stderr)
            commands[index].exited(status: status)
            if commands[index].timedOut { commands[index].signalGroup(CSYS_SIGKILL) }
            if commands[index].connectionSlot < 0 {
                commands.release(index)  // its connection is gone
            } else {
                ready(commands[index].connectionSlot)
            }
        }
    }

    /// Timeouts: SIGTERM to the group at the deadline, SIGKILL 2 s later. Returns the
    /// next deadline.
    func expireCommands(now: Milliseconds) -> Milliseconds? {
        var next: Milliseconds?
        for index in 0..<commands.capacity where commands[index].state == .running {
            let due: Milliseconds
            if let killAt = commands[index].killAt {
                guard killAt != .max else { continue }
                if now >= killAt {
                    commands[index].signalGroup(CSYS_SIGKILL)
                    commands[index].killAt = .max  // killed; waiting to be reaped
                    continue
                }
                due = killAt
            } else if now >= commands[index].deadline {
                commands[index].signalGroup(CSYS_SIGTERM)
                commands[index].killAt = now + RunningCommand.killGraceMs
                due = now + RunningCommand.killGraceMs
            } else {
                due = commands[index].deadline
            }
            next = min(next ?? due, due)
        }
        return next
    }
}
