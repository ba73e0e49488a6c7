import CSys

/// What to start, in bytes (paths, argv and environment need not be UTF-8).
struct LaunchSpec {
    var argv: [[UInt8]]
    /// "NAME=value" entries: the whole environment.
    var environment: [[UInt8]]
    /// Where a bare argv[0] is looked up.
    var searchPath: [UInt8]
    var cwd: [UInt8]
    /// The user to become; nil to keep the agent's identity.
    var identity: UserAccount?
    var stdout: FileDescriptor
    var stderr: FileDescriptor
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
        let path = spec.searchPath + [0]
        let cwd = spec.cwd + [0]
        var failure = csys_spawn_failure()
        let pid: Int32 = groups.withUnsafeBufferPointer { groupList in
            path.withUnsafeBufferPointer { pathBytes in
                cwd.withUnsafeBufferPointer { cwdBytes in
                    var request = csys_spawn_request(
                        argv: argv.pointers, envp: environment.pointers,
                        search_path: UnsafeRawPointer(pathBytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                        cwd: UnsafeRawPointer(cwdBytes.baseAddress!).assumingMemoryBound(to: CChar.self),
                        stdout_fd: spec.stdout.rawValue, stderr_fd: spec.stderr.rawValue,
                        change_identity: spec.identity == nil ? 0 : 1,
                        uid: spec.identity?.uid ?? 0, gid: spec.identity?.gid ?? 0,
                        groups: groupList.baseAddress, group_count: Int32(groupList.count))
                    return csys_spawn(&request, &failure)
                }
            }
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
