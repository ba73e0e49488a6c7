import CSys
import DbgWire

/// ShellOpen, ShellInput, ShellResize and ShellClose: a login shell on a PTY in the
/// process host, usable only by the session that opened it. Its output and exit go out
/// through the shell relay.
extension DbgService {
    func openShell(_ open: Dbg.ShellOpenRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: open.token, on: connection)
        let size = try ProcessHost.terminalSize(open.rows, open.cols)
        guard !open.cwd.containsNUL else { throw ServiceError(.badRequest, "Cwd: contains a NUL byte") }
        let account = session.user.account
        let cwd = DbgService.workingDirectory(open.cwd.bytes, home: Array(account.home.utf8))
        if let problem = DbgService.directoryProblem(cwd, as: account) { throw problem }
        let spec = UserEnvironment.loginShell(for: account, cwd: cwd)
        try relay.open(spec, size, ownerSerial: session.serial, request, &connection)
    }

    func shellInput(_ input: Dbg.ShellInputRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try relay.input(input.data, try ownedShell(input.token, input.sessionID, connection), request, &connection)
    }

    func resizeShell(_ resize: Dbg.ShellResizeRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try relay.resize(try ownedShell(resize.token, resize.sessionID, connection), rows: resize.rows, cols: resize.cols,
                         request, &connection)
    }

    func closeShell(_ close: Dbg.ShellCloseRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        relay.close(try ownedShell(close.token, close.sessionID, connection), request, &connection)
    }

    /// The running shell `id`, if the request's session owns it.
    private func ownedShell(_ token: WireBytes, _ id: UInt32, _ connection: borrowing Connection) throws(ServiceError) -> Int {
        let session = try session(for: token, on: connection)
        guard let index = core.processes.runningShell(id, service: ServiceID.dbg) else {
            throw ServiceError(.notFound, "no shell with SessionID \(id)")
        }
        guard core.processes.shells[index].ownerSerial == session.serial else {
            throw ServiceError(.denied, "shell \(id) belongs to another session")
        }
        return index
    }
}
