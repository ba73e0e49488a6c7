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
    /// Nil until the process host gives a command its capture pipes (startCommand) or a
    /// shell its terminal (openShell).
    var io: IO?
    /// With `.pipes`: the child's stdin instead of /dev/null.
    var stdin: FileDescriptor?
    /// For a captured command: its stdout goes here instead of the capture (a backup
    /// archive written into a file the agent opened).
    var stdoutFile: FileDescriptor?
    /// Where to run it instead of the host: a rootfs and its namespaces.
    var container: ContainerSpec?
}

/// A rootfs to run a program in (see csys_container): its own mount, PID and UTS
/// namespaces, proc, sys, dev and tmp mounted, host paths bound in.
struct ContainerSpec {
    struct Bind {
        var source: [UInt8]
        /// Absolute, inside the root.
        var target: [UInt8]
        var sourceIsDirectory: Bool
    }

    var root: [UInt8]
    var hostname: [UInt8]
    var binds: [Bind]
    /// For an agent that is not root: a user namespace in which it may mount, mapping
    /// only its own uid and gid.
    var userNamespace: (uid: UInt32, gid: UInt32)?
    /// The application runtime's sandbox: root "/" read-only, and IPC and network
    /// namespaces of its own (only loopback).
    var sandbox = false

    /// The sandbox of the application runtime's `sandbox` method: the host's root,
    /// read-only, with `directory` (the app's, which may be under /tmp) bound where it is.
    static func sandbox(directory: [UInt8], userNamespace: (uid: UInt32, gid: UInt32)?) -> ContainerSpec {
        ContainerSpec(root: [UInt8(ascii: "/")], hostname: [], binds: [Bind(source: directory, target: directory, sourceIsDirectory: true)],
                      userNamespace: userNamespace, sandbox: true)
    }
}

/// Starts processes through csys_spawn (vfork + async-signal-safe set-up in C).
enum ProcessLauncher {
    static func launch(_ spec: LaunchSpec) throws(LaunchFailure) -> Int32 {
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
        case nil: throw LaunchFailure(stage: .stdio, errno: Errno(CSYS_EBADF))
        }
        var failure = csys_spawn_failure()
        let pid: Int32 = groups.withUnsafeBufferPointer { groupList in
            var request = csys_spawn_request(
                program: spec.program == nil ? nil : strings.pointers[2], argv: argv.pointers, envp: environment.pointers,
                search_path: strings.pointers[0], cwd: strings.pointers[1],
                stdin_fd: spec.stdin?.rawValue ?? -1, stdout_fd: stdout, stderr_fd: stderr, terminal_fd: terminal,
                change_identity: spec.identity == nil ? 0 : 1,
                uid: spec.identity?.uid ?? 0, gid: spec.identity?.gid ?? 0,
                groups: groupList.baseAddress, group_count: Int32(groupList.count), container: nil)
            guard let container = spec.container else { return csys_spawn(&request, &failure) }
            return ContainerStrings(container).withContainer { described in
                withUnsafePointer(to: described) { request.container = $0; return csys_spawn(&request, &failure) }
            }
        }
        if pid > 0 { return pid }
        let stage: LaunchFailure.Stage
        switch Int(failure.stage) {
        case Int(CSYS_SPAWN_STAGE_STDIO): stage = .stdio
        case Int(CSYS_SPAWN_STAGE_IDENTITY): stage = .identity
        case Int(CSYS_SPAWN_STAGE_CHDIR): stage = .cwd
        case Int(CSYS_SPAWN_STAGE_EXEC): stage = .exec
        case Int(CSYS_SPAWN_STAGE_NAMESPACE): stage = .namespace(failure.detail)
        case Int(CSYS_SPAWN_STAGE_ROOT): stage = .root
        case Int(CSYS_SPAWN_STAGE_MOUNT): stage = .mount(failure.detail)
        case Int(CSYS_SPAWN_STAGE_BIND): stage = .bind(Int(failure.detail))
        default: stage = .fork
        }
        throw LaunchFailure(stage: stage, errno: Errno(failure.error))
    }
}

/// A ContainerSpec as C strings, alive for the duration of one spawn.
private struct ContainerStrings {
    let spec: ContainerSpec

    init(_ spec: ContainerSpec) { self.spec = spec }

    func withContainer<R>(_ body: (csys_container) -> R) -> R {
        let names = CStringArray([spec.root, spec.hostname])
        let sources = CStringArray(spec.binds.map { $0.source })
        let targets = CStringArray(spec.binds.map { $0.target })
        defer {
            names.free()
            sources.free()
            targets.free()
        }
        let directories = spec.binds.map { Int32($0.sourceIsDirectory ? 1 : 0) }
        return directories.withUnsafeBufferPointer { isDirectory in
            body(csys_container(
                root: names.pointers[0], hostname: names.pointers[1], user_namespace: spec.userNamespace == nil ? 0 : 1,
                map_uid: spec.userNamespace?.uid ?? 0, map_gid: spec.userNamespace?.gid ?? 0,
                bind_sources: sources.pointers, bind_targets: targets.pointers,
                bind_source_is_directory: isDirectory.baseAddress, bind_count: Int32(spec.binds.count),
                sandbox: spec.sandbox ? 1 : 0))
        }
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
