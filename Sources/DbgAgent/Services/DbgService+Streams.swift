import CSys
import DbgWire

/// ProcessStart, ProcessInput, ProcessCloseInput, ProcessSignal and ProcessResize: a
/// process with streamed stdin, stdout and stderr in the process host, usable only by
/// the session that started it. Its output, credits and exit go out through the stream
/// relay.
extension DbgService {
    func startProcess(_ start: Dbg.ProcessStartRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: start.token, on: connection)
        let account = session.user.account
        guard start.timeoutSec >= 0 else { throw ServiceError(.badRequest, "TimeoutSec: must not be negative (0 means no limit)") }
        guard !start.cwd.containsNUL else { throw ServiceError(.badRequest, "Cwd: contains a NUL byte") }
        let throughShell = start.argv.isEmpty
        let argv = try DbgService.argv(of: start, shell: Array(account.shell.utf8))
        let terminal = start.terminal ? try ProcessHost.terminalSize(start.rows, start.cols) : nil
        var environment = UserEnvironment.variables(for: account, extra: start.terminal ? [UserEnvironment.terminalType] : [])
        for (number, entry) in start.env.enumerated() {
            guard !entry.value.containsNUL, UserEnvironment.set(entry.value.bytes, in: &environment) else {
                throw ServiceError(.badRequest, "Env: entry " + String(number + 1) + " is not NAME=value")
            }
        }
        let cwd = DbgService.workingDirectory(start.cwd.bytes, home: Array(account.home.utf8))
        if let problem = DbgService.directoryProblem(cwd, as: account) { throw problem }
        let spec = LaunchSpec(argv: argv, environment: environment, searchPath: UserEnvironment.searchPath(for: account),
                              cwd: cwd, identity: UserEnvironment.identity(for: account))
        try streams.start(spec, terminal: terminal, timeoutSeconds: Int64(start.timeoutSec), ownerSerial: session.serial,
                          throughShell: throughShell, request, &connection)
    }

    func processInput(_ input: Dbg.ProcessInputRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedProcess(input.token, input.processID, request, connection) else { return }
        try streams.input(input.data, index, request, &connection)
    }

    func closeProcessInput(_ close: Dbg.ProcessRef, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedProcess(close.token, close.processID, request, connection) else { return }
        try streams.closeInput(index, request, &connection)
    }

    func signalProcess(_ signal: Dbg.ProcessSignalRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedProcess(signal.token, signal.processID, request, connection) else { return }
        try streams.signal(index, signal.signal, request, &connection)
    }

    func resizeProcess(_ resize: Dbg.ProcessResizeRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedProcess(resize.token, resize.processID, request, connection) else { return }
        try streams.resize(index, rows: resize.rows, cols: resize.cols, request, &connection)
    }

    /// Argv word for word, or the user's shell with `-c Command`.
    private static func argv(of start: Dbg.ProcessStartRequest, shell: [UInt8]) throws(ServiceError) -> [[UInt8]] {
        guard !start.argv.isEmpty else {
            guard !start.command.isEmpty else { throw ServiceError(.badRequest, "Command: empty, and no Argv") }
            guard !start.command.containsNUL else { throw ServiceError(.badRequest, "Command: contains a NUL byte") }
            return [shell, Array("-c".utf8), start.command.bytes]
        }
        guard start.command.isEmpty else { throw ServiceError(.badRequest, "Command: must be empty when Argv is given") }
        var argv: [[UInt8]] = []
        for (number, word) in start.argv.enumerated() {
            guard !word.value.containsNUL else {
                throw ServiceError(.badRequest, "Argv: word " + String(number + 1) + " contains a NUL byte")
            }
            argv.append(word.value.bytes)
        }
        guard !argv[0].isEmpty else { throw ServiceError(.badRequest, "Argv: the program (word 1) is empty") }
        return argv
    }

    /// The process `id` (running, or exited and not yet told), if the request's session
    /// started it; nil for a one-way request to a process that has ended since (input, a
    /// close, a signal or a resize that crossed its exit: dropped, since nobody waits for
    /// an answer and an error frame would only reach the client's next call).
    private func ownedProcess(_ token: WireBytes, _ id: UInt32, _ request: FrameHeader,
                              _ connection: borrowing Connection) throws(ServiceError) -> Int? {
        let session = try session(for: token, on: connection)
        guard let index = core.processes.streams.index(of: id), !core.processes.streams[index].reply.isDetached else {
            if request.id == 0 && core.processes.hasEnded(process: id) { return nil }
            throw ServiceError(.notFound, "no process with ProcessID " + String(id))
        }
        guard core.processes.streams[index].ownerSerial == session.serial else {
            throw ServiceError(.denied, "process " + String(id) + " belongs to another session")
        }
        return index
    }
}
