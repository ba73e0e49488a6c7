import CSys
import Foundation

/// A child started with posix_spawn and reaped with waitpid by this object alone, with
/// its stdout and stderr on one pipe. (Foundation's Process reaps on a dispatch queue,
/// which a busy parallel test run can delay by seconds.)
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let output: FileHandle
    /// The child's stdin, when asked for; close it to send end of file.
    let input: FileHandle?
    private let lock = NSLock()
    private var status: Int32?

    /// Runs `command` (looked up on PATH) with the current environment plus `environment`.
    /// With `terminal`, stdin, stdout and stderr are one new pseudo-terminal of that size
    /// (rows, columns), and `input`/`output` are its master side.
    init(_ command: [String], environment: [String: String] = [:], withInput: Bool = false,
         terminal: (rows: UInt16, cols: UInt16)? = nil) throws {
        var pipe: [Int32] = [0, 0]
        var stdin: [Int32] = [-1, -1]
        if let terminal {
            var master: Int32 = -1
            var slave: Int32 = -1
            var size = winsize(ws_row: terminal.rows, ws_col: terminal.cols, ws_xpixel: 0, ws_ypixel: 0)
            guard openpty(&master, &slave, nil, nil, &size) == 0 else {
                throw AgentProcessError("openpty: \(String(cString: strerror(errno)))")
            }
            _ = fcntl(master, F_SETFD, FD_CLOEXEC)
            _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
            pipe = [master, slave]
            stdin = [slave, dup(master)]
        } else {
            guard csys_pipe(&pipe) == 0, !withInput || csys_pipe(&stdin) == 0 else {
                throw AgentProcessError("pipe2: \(String(cString: strerror(errno)))")
            }
        }
        let withInput = withInput || terminal != nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, pipe[1], 2)
        if withInput { posix_spawn_file_actions_adddup2(&actions, stdin[0], 0) }
        let argv = command.map { strdup($0) } + [nil]
        let env = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + env).forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawnp(&child, command[0], &actions, nil, argv, env)
        close(pipe[1])
        if withInput && stdin[0] != pipe[1] { close(stdin[0]) }
        guard rc == 0 else {
            close(pipe[0])
            if withInput { close(stdin[1]) }
            throw AgentProcessError("cannot start \(command[0]): \(String(cString: strerror(rc)))")
        }
        pid = child
        output = FileHandle(fileDescriptor: pipe[0], closeOnDealloc: true)
        input = withInput ? FileHandle(fileDescriptor: stdin[1], closeOnDealloc: true) : nil
    }

    /// The exit status (128+N if killed by signal N), or nil while it runs.
    var exitStatus: Int32? {
        lock.lock()
        defer { lock.unlock() }
        if status == nil {
            var raw: Int32 = 0
            if waitpid(pid, &raw, WNOHANG) == pid {
                status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            }
        }
        return status
    }

    var isRunning: Bool { exitStatus == nil }

    func signal(_ number: Int32) { if isRunning { kill(pid, number) } }

    /// SIGTERM, then SIGKILL if it has not exited within `grace` seconds; waits for it.
    /// (ser2net, say, does not always end on SIGTERM: it outlived every run before.)
    func stop(grace: TimeInterval = 2) {
        signal(SIGTERM)
        if waitForExit(timeout: grace) == nil {
            signal(SIGKILL)
            _ = waitForExit(timeout: grace)
        }
    }

    /// Waits up to `timeout` seconds for the exit; nil if it is still running.
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while isRunning && Date() < deadline { usleep(10_000) }
        return exitStatus
    }
}
