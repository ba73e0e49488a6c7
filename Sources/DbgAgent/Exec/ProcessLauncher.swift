import CSys

/// What to start, in bytes (paths, argv and environment need not be UTF-8).
struct LaunchSpec {
    /// Where the child's stdio goes.
    enum IO {
        /// stdin from /dev/null, stdout and stderr into these pipes; a new process group.
        case pipes(stdout: FileDescriptor, stderr: FileDescriptor)
        /// All three on this terminal, which becomes the controlling terminal of a new session.
        case terminal(FileDescriptor)
    }

    /// The file to execute when it differs from argv[0] (a login shell's "-sh").
    var program: [UInt8]?
    var argv: [[UInt8]]
    /// "NAME=value" entries: the whole environment.
    var environment: [[UInt8]]
    /// Where a bare argv[0] is looked up.
    var searchPath: [UInt8]
    var cwd: [UInt8]
    /// The user to become; nil to keep the agent's identity.
    var identity: UserAccount?
    var io: IO
}

/// Why a child did not get to run its program.
struct LaunchFailure: Error {
    enum Stage {
        case fork, stdio, identity, cwd, exec
    }

    var stage: Stage
    var errno: Errno
}

/// Starts processes through csys_spawn (vfork + async-signal-safe set-up in C).
enum ProcessLauncher {
    static func launch(_ spec: LaunchSpec) -> Result<Int32, LaunchFailure> {
        let argv = CStringArray(spec.argv)
        let environment = CStringArray(spec.environment)
        defer {
            argv.free()
            environment.free()
        }
        let groups = spec.identity?.groups ?? []
        // One NUL-terminated block: search path, working directory, program.
        let strings = CStringArray([spec.searchPath, spec.cwd, spec.program ?? []])
        defer { strings.free() }
        var (stdout, stderr, terminal): (Int32, Int32, Int32) = (-1, -1, -1)
        switch spec.io {
        case .pipes(let out, let err): (stdout, stderr) = (out.rawValue, err.rawValue)
        case .terminal(let tty): terminal = tty.rawValue
        }
        var failure = csys_spawn_failure()
        let pid: Int32 = groups.withUnsafeBufferPointer { groupList in
            var request = csys_spawn_request(
                program: spec.program == nil ? nil : strings.pointers[2], argv: argv.pointers, envp: environment.pointers,
                search_path: strings.pointers[0], cwd: strings.pointers[1],
                stdout_fd: stdout, stderr_fd: stderr, terminal_fd: terminal,
                change_identity: spec.identity == nil ? 0 : 1,
                uid: spec.identity?.uid ?? 0, gid: spec.identity?.gid ?? 0,
                groups: groupList.baseAddress, group_count: Int32(groupList.count))
            return csys_spawn(&request, &failure)
        }
        if pid > 0 { return .success(pid) }
        let stage: LaunchFailure.Stage
        switch Int(failure.stage) {
        case Int(CSYS_SPAWN_STAGE_STDIO): stage = .stdio
        case Int(CSYS_SPAWN_STAGE_IDENTITY): stage = .identity
        case Int(CSYS_SPAWN_STAGE_CHDIR): stage = .cwd
        case Int(CSYS_SPAWN_STAGE_EXEC): stage = .exec
        default: stage = .fork
        }
        return .failure(LaunchFailure(stage: stage, errno: Errno(failure.error)))
    }
}

/// A NULL-terminated array of NUL-terminated strings in one allocation, for execve.
private struct CStringArray {
    let pointers: UnsafeMutablePointer<UnsafePointer<CChar>?>
    private let storage: UnsafeMutableRawPointer

    init(_ strings: [[UInt8]]) {
        let total = strings.reduce(0) { $0 + $1.count + 1 }
        storage = .allocate(byteCount: max(total, 1), alignment: 1)
        pointers = .allocate(capacity: strings.count + 1)
        var offset = 0
        for (index, string) in strings.enumerated() {
            let start = storage + offset
            string.withUnsafeBytes { start.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(start), byteCount: $0.count) }
            start.storeBytes(of: 0, toByteOffset: string.count, as: UInt8.self)
            pointers[index] = UnsafePointer(start.assumingMemoryBound(to: CChar.self))
            offset += string.count + 1
        }
        pointers[strings.count] = nil
    }

    func free() {
        storage.deallocate()
        pointers.deallocate()
    }
}
