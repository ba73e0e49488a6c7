import DbgWire

/// The distro service (0x70). It has no tokens: the connection's most recent session is
/// the caller (on a Unix socket, the client process's own user).
extension AgentConnection {
    public func distroStatus() throws(ClientError) -> Distro.StatusResponse {
        try call(service: ServiceID.distro, op: Distro.Op.status.rawValue, Empty())
    }

    /// Waits as long as the install takes (the agent bounds its network waits).
    public func distroInstall(url: String) throws(ClientError) {
        let _: Empty = try withAnswerTimeout(seconds: 0) { () throws(ClientError) in
            try call(service: ServiceID.distro, op: Distro.Op.install.rawValue, Distro.InstallRequest(url: WireBytes(url)))
        }
    }

    public func distroRemove() throws(ClientError) {
        let _: Empty = try withAnswerTimeout(seconds: 0) { () throws(ClientError) in
            try call(service: ServiceID.distro, op: Distro.Op.remove.rawValue, Empty())
        }
    }

    /// Waits as long as the command runs (the agent bounds it).
    public func distroRun(_ request: Distro.RunRequest) throws(ClientError) -> Distro.RunResult {
        try withAnswerTimeout(seconds: 0) { () throws(ClientError) in
            try call(service: ServiceID.distro, op: Distro.Op.run.rawValue, request)
        }
    }

    public func distroOpenShell(_ request: Distro.ShellOpenRequest) throws(ClientError) -> UInt32 {
        let session: ShellSession = try call(service: ServiceID.distro, op: Distro.Op.shellOpen.rawValue, request)
        return session.sessionID
    }

    /// One-way, like the dbg shell's.
    public func distroShellInput(shell: UInt32, _ data: [UInt8]) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.shellInput.rawValue, id: 0,
                 Distro.ShellInputRequest(sessionID: shell, data: WireBytes(data)))
    }

    public func distroResizeShell(shell: UInt32, rows: Int64, cols: Int64) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.shellResize.rawValue, id: 0,
                 Distro.ShellResizeRequest(sessionID: shell, rows: rows, cols: cols))
    }

    public func distroCloseShell(shell: UInt32) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.shellClose.rawValue, id: 0, Distro.ShellCloseRequest(sessionID: shell))
    }
}

/// Streamed runs (RunStart and the one-way ops after it); output, credits and the exit
/// come as RunStdout, RunStderr, RunInputCredit and RunExit events.
extension AgentConnection {
    public func distroStartRun(_ request: Distro.RunStartRequest) throws(ClientError) -> ProcessStarted {
        try call(service: ServiceID.distro, op: Distro.Op.runStart.rawValue, request)
    }

    public func distroRunInput(process: UInt32, _ data: [UInt8]) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.runInput.rawValue, id: 0, ProcessData(processID: process, data: WireBytes(data)))
    }

    public func distroCloseRunInput(process: UInt32) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.runCloseInput.rawValue, id: 0, Distro.RunRef(processID: process))
    }

    public func distroSignalRun(process: UInt32, signal: Int32) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.runSignal.rawValue, id: 0,
                 Distro.RunSignalRequest(processID: process, signal: signal))
    }

    public func distroResizeRun(process: UInt32, rows: Int64, cols: Int64) throws(ClientError) {
        try send(service: ServiceID.distro, op: Distro.Op.runResize.rawValue, id: 0,
                 Distro.RunResizeRequest(processID: process, rows: rows, cols: cols))
    }
}
