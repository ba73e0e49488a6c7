import CSys
import DbgWire

/// Why a child did not get to run its program.
struct LaunchFailure: Error {
    enum Stage: Equatable {
        case fork, stdio, identity, cwd, exec
        /// No PTY for a shell.
        case terminal
        /// Contained programs only.
        case namespace(Int32), root, mount(Int32), bind(Int)
    }

    var stage: Stage
    var errno: Errno
}

extension LaunchFailure {
    /// The error for a child that did not get to run its program. A contained one names
    /// its directory Workdir and may fail at a bind of `container`.
    func describe(program: [UInt8], throughShell: Bool, container: ContainerSpec? = nil) -> ServiceError {
        let (code, message) = explain(program: program, throughShell: throughShell, container: container)
        // An IO failure carries its errno; the other codes say all there is.
        return ServiceError(code, errno: code == .io ? errno.code : 0, message)
    }

    private func explain(program: [UInt8], throughShell: Bool, container: ContainerSpec?) -> (ErrorCode, String) {
        let name = String(decoding: program, as: UTF8.self)
        let what = throughShell ? "shell" : "command"
        let directory = container == nil ? "Cwd" : "Workdir"
        let reason = errno.message
        switch (stage, errno.code) {
        case (.exec, CSYS_ENOENT): return (.notFound, what + " not found: " + name)
        case (.exec, CSYS_EACCES): return (.denied, "permission denied: " + name)
        case (.exec, _): return (.io, "cannot run " + name + ": " + reason)
        case (.cwd, CSYS_ENOENT): return (.notFound, directory + ": no such directory")
        case (.cwd, CSYS_ENOTDIR): return (.badRequest, directory + ": not a directory")
        case (.cwd, CSYS_EACCES): return (.denied, directory + ": permission denied")
        case (.cwd, _): return (.io, directory + ": " + reason)
        case (.identity, _): return (.internalError, "cannot switch to the user: " + reason)
        case (.stdio, _), (.fork, _): return (.io, "cannot start a process: " + reason)
        case (.terminal, _): return (.io, "cannot open a PTY: " + reason)
        case (.namespace(let step), let code):
            let steps: StaticString = step == 0 ? "create a user namespace" : step == 1 ? "map the user into its namespace"
                : step == 2 ? "create mount, PID and UTS (and for a sandbox IPC and network) namespaces" : "set the host name"
            return (code == CSYS_EPERM ? .denied : .io, "cannot " + steps.text + ": " + reason)
        case (.root, _): return (.io, "cannot enter the rootfs: " + reason)
        case (.mount(6), _): return (.io, "cannot make the sandbox's mounts read-only: " + reason)
        case (.mount(7), _): return (.io, "cannot bring up the sandbox's loopback: " + reason)
        case (.mount(let which), _):
            let point: StaticString = which == 1 ? "/proc" : which == 2 ? "/sys" : which == 3 ? "/dev" : which == 4 ? "/dev/pts"
                : which == 5 ? "/tmp" : "/ (private)"
            return (.io, "cannot mount " + point.text + " in the rootfs: " + reason)
        case (.bind(let index), _):
            guard let binds = container?.binds, index < binds.count else { return (.io, "Bind: entry " + String(index + 1) + ": " + reason) }
            let bind = binds[index]
            let source = String(decoding: bind.source, as: UTF8.self)
            let target = String(decoding: bind.target, as: UTF8.self)
            return (.io, "Bind: cannot bind " + source + " to " + target + ": " + reason)
        }
    }
}
