import CSys
import DbgWire

/// What a call's process is, which says how its end becomes the call's result.
enum AppProcedure {
    /// init, exit, callback: null on success.
    case hook
    /// actions/NAME/run: the JSON it printed.
    case action
    /// eval: its exit code and output, whatever they are.
    case eval
    /// backup/create or the agent's tar: the archive went into `temporary`, which becomes
    /// `final` once synced.
    case backup(temporary: [UInt8], final: [UInt8])
}

/// Starting the runtime's processes (as the app user, in the app directory, with the
/// clean environment of RunCommand, captured and timed like it) and reading their end.
extension AppRuntime {
    /// A call for `procedure` started now, or why not as the call's answer.
    func run(_ waiter: AppCall.Waiter, _ procedure: AppProcedure, argv: [[UInt8]], input: [UInt8]?, timeoutMs: Int64?,
             event: [UInt8]?, sandbox: Bool = false, stdoutFile: FileDescriptor? = nil) -> Step {
        do throws(ServiceError) {
            let index = try newCall(waiter, .process(procedure))
            do throws(ServiceError) {
                try launch(index, procedure, argv: argv, input: input, timeoutMs: timeoutMs, event: event, sandbox: sandbox,
                           stdoutFile: stdoutFile)
            } catch {
                calls[index] = AppCall(generation: calls[index].generation &+ 1)
                throw error
            }
            return .pending
        } catch {
            return .done(.failure(AppFailure.refusal(error)))
        }
    }

    /// Starts call `index`'s process; its end comes back to `completionsReady`.
    func launch(_ index: Int, _ procedure: AppProcedure, argv: [[UInt8]], input: [UInt8]?, timeoutMs: Int64?,
                event: [UInt8]?, sandbox: Bool = false, stdoutFile: FileDescriptor? = nil) throws(ServiceError) {
        var spec = LaunchSpec(argv: argv,
                              environment: AppRuntime.environment(directory, config,
                                                                  extra: event.map { [Array("DBGD_EVENT_ID=".utf8) + $0] } ?? []),
                              searchPath: UserEnvironment.searchPath(for: directory.user), cwd: directory.path,
                              identity: UserEnvironment.identity(for: directory.user))
        spec.stdoutFile = stdoutFile
        if sandbox { spec.container = .sandbox(directory: directory.path, userNamespace: geteuid() == 0 ? nil : (geteuid(), getegid())) }
        if let input {
            let fd = input.withUnsafeBytes { csys_input_file($0.baseAddress, $0.count) }
            guard fd >= 0 else { throw ServiceError.io("the procedure's input", .current) }
            spec.stdin = FileDescriptor(fd)
        }
        defer { spec.stdin?.close() }  // the child has its own
        // Milliseconds up to whole seconds, the process host's unit.
        let seconds = timeoutMs.map { ($0 + 999) / 1000 } ?? config.timeoutSeconds
        calls[index].work = .process(procedure)
        do throws(ProcessHost.StartError) {
            try core.processes.startCommand(spec, timeoutSeconds: seconds, reply: reply(to: index))
        } catch {
            throw error.serviceError(program: argv[0], throughShell: false)
        }
    }

    /// Call `index`'s process was reaped: its result from the command slot.
    func processEnded(_ index: Int, _ command: Int) {
        guard case .process(let procedure) = calls[index].work else { return }
        let exitCode = core.processes.commands[command].exitCode
        let stdout = Array(core.processes.commands[command].stdout.bytes)
        switch procedure {
        case .eval:
            finish(index, .success(.object([JSONMember("exitCode", .integer(exitCode))] + outputMembers(command))))
        case .hook where exitCode == 0:
            finish(index, .success(.null))
        case .action where exitCode == 0:
            if stdout.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return finish(index, .success(.null)) }
            do throws(JSONError) {
                finish(index, .success(try JSONReader.parse(stdout)))
            } catch {
                finish(index, .failure(JSONRPC.Failure(code: AppFailure.failed, message: "the action printed no valid JSON: "
                    + error.message, data: .object([JSONMember("exitCode", .integer(exitCode))] + outputMembers(command)))))
            }
        case .backup(let temporary, let final) where exitCode == 0:
            if let busy = core.fileJobs.submit(.syncAndRename(to: final, replace: false), path: temporary, reportedAs: final,
                                               as: nil, reply: reply(to: index)) {
                AppRuntime.remove(temporary)
                return finish(index, .failure(AppFailure.refusal(ServiceError(.busy, busy))))
            }
            calls[index].work = .savingBackup(temporary: temporary, final: final)
        default:
            if case .backup(let temporary, _) = procedure { AppRuntime.remove(temporary) }
            finish(index, .failure(JSONRPC.Failure(code: AppFailure.failed, message: failureLine(exitCode, core.processes.commands[command].stderr.bytes),
                                                   data: .object([JSONMember("exitCode", .integer(exitCode))] + outputMembers(command)))))
        }
    }

    /// The captured output as JSON members (bytes that are not UTF-8 become U+FFFD).
    private func outputMembers(_ command: Int) -> [JSONMember] {
        let processes = core.processes
        return [JSONMember("stdout", .string(Array(processes.commands[command].stdout.bytes))),
                JSONMember("stderr", .string(Array(processes.commands[command].stderr.bytes))),
                JSONMember("stdoutTruncated", .bool(processes.commands[command].stdout.truncated)),
                JSONMember("stderrTruncated", .bool(processes.commands[command].stderr.truncated))]
    }

    /// The message of a failed procedure: the last line of its stderr, or its status.
    private func failureLine(_ exitCode: Int64, _ stderr: UnsafeRawBufferPointer) -> String {
        let lines = stderr.split(separator: UInt8(ascii: "\n"))
        if let last = lines.last, !last.isEmpty { return String(decoding: last.prefix(512), as: UTF8.self) }
        return "exited with status " + String(exitCode)
    }

    /// A backup's file job finished: after the sync and rename, its hash; then the answer.
    func fileJobEnded(_ index: Int, _ result: Result<FileJobOutcome, Errno>) {
        switch (calls[index].work, result) {
        case (.savingBackup(let temporary, _), .failure(let error)):
            AppRuntime.remove(temporary)
            finish(index, .failure(AppFailure.refusal(ServiceError.io("saving the backup", error))))
        case (.savingBackup(_, let final), .success):
            if let busy = core.fileJobs.submit(.hash(offset: 0, length: 0), path: final, reportedAs: final, as: nil,
                                               reply: reply(to: index)) {
                return finish(index, .failure(AppFailure.refusal(ServiceError(.busy, busy))))
            }
            calls[index].work = .hashingBackup(final)
        case (.hashingBackup(let final), .success(.digest(let digest, let size))):
            finish(index, .success(.object([JSONMember("path", .string(final)), JSONMember("size", .integer(Int64(size))),
                                            JSONMember("sha256", .string(AppRuntime.hex(digest)))])))
        case (.hashingBackup, .failure(let error)):
            finish(index, .failure(AppFailure.refusal(ServiceError.io("hashing the backup", error))))
        default:
            finish(index, .failure(JSONRPC.Failure(code: JSONRPC.internalError, message: "Internal error: unexpected file job")))
        }
    }

    /// /backup/create: the backup/create hook, or tar of backup/paths, writes the archive
    /// into a file the agent made in --backup-dir (readable by --rpc-group); it gets its
    /// name once complete.
    func backup(_ waiter: AppCall.Waiter, timeoutMs: Int64?, sandbox: Bool, event: [UInt8]?) throws(JSONRPC.Failure) -> Step {
        let hook = directory.file("backup/create")
        let argv: [[UInt8]]
        if try AppFailure.refusing({ () throws(ServiceError) in try directory.exists(hook) }) {
            argv = [hook]
        } else if let list = try AppFailure.refusing({ () throws(ServiceError) in try directory.read(directory.file("backup/paths")) }) {
            let paths = directory.backupPaths(list)
            guard !paths.isEmpty else { throw AppFailure.refusal(ServiceError(.notFound, "backup/paths lists nothing")) }
            // Relative to /, each starting with "./" so that no name reads as an option.
            argv = [Array("tar".utf8), Array("-cf".utf8), Array("-".utf8), Array("-C".utf8), [UInt8(ascii: "/")]]
                + paths.map { [UInt8(ascii: ".")] + $0 }
        } else {
            throw AppFailure.refusal(ServiceError(.notFound, "the application has neither a backup/create hook nor a backup/paths list"))
        }
        let stamp = String(csys_wall_ms())
        let folder = Array(config.backupDirectory.utf8)
        let final = folder + Array(("/backup-" + stamp + ".tar").utf8)
        let temporary = folder + Array(("/.backup-" + stamp + ".tar.partial").utf8)
        let file: FileDescriptor
        do throws(Errno) {
            try FileTree.makeDirectory(folder, mode: 0o700, parents: true)
        } catch where error == .exists {
        } catch {
            throw AppFailure.refusal(ServiceError(error, path: folder))
        }
        do throws(Errno) {
            file = try UserFiles.open(temporary, for: .write, mode: 0o600, as: nil)
        } catch {
            throw AppFailure.refusal(ServiceError(error, path: temporary))
        }
        // The runtime's callers (root, the socket's group) may read the backups.
        if let group = rpcGroup {
            _ = FileTree.withCPath(folder) { chown($0, UInt32.max, group) == 0 && chmod($0, 0o750) == 0 }
            _ = fchown(file.rawValue, UInt32.max, group)
            _ = fchmod(file.rawValue, 0o640)
        }
        defer { file.close() }  // the child has its own
        let step = run(waiter, .backup(temporary: temporary, final: final), argv: argv, input: nil, timeoutMs: timeoutMs,
                       event: event, sandbox: sandbox, stdoutFile: file)
        if case .done = step { AppRuntime.remove(temporary) }
        return step
    }

    static func hex(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return text
    }

    static func remove(_ path: [UInt8]) {
        _ = FileTree.withCPath(path) { unlink($0) }
    }
}
