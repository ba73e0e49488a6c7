import DbgWire

/// RunStart and the ops after it: Run's program inside the rootfs, streamed like dbg's
/// ProcessStart (the same process host slots and relay; RunStdout, RunStderr,
/// RunInputCredit and RunExit events). A streamed run belongs to its connection, as a
/// distro shell does.
extension DistroService {
    func startRun(_ start: Distro.RunStartRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let caller = try caller(connection)
        guard start.timeoutSec >= 0 else { throw ServiceError(.badRequest, "TimeoutSec: must not be negative (0 means no limit)") }
        let argv = try CommandSplitter.argv(ofCommand: start.command.bytes)
        let terminal = start.terminal ? try ProcessHost.terminalSize(start.rows, start.cols) : nil
        var spec = try launchSpec(caller, workdir: start.workdir, bind: start.bind, env: start.env, terminal: start.terminal)
        spec.argv = argv
        try streams.start(spec, terminal: terminal, timeoutSeconds: Int64(start.timeoutSec), ownerSerial: caller.sessionSerial,
                          throughShell: false, request, &connection)
    }

    func runInput(_ input: ProcessData, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedRun(input.processID, request, connection) else { return }
        try streams.input(input.data, index, request, &connection)
    }

    func closeRunInput(_ close: Distro.RunRef, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedRun(close.processID, request, connection) else { return }
        try streams.closeInput(index, request, &connection)
    }

    func signalRun(_ signal: Distro.RunSignalRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedRun(signal.processID, request, connection) else { return }
        try streams.signal(index, signal.signal, request, &connection)
    }

    func resizeRun(_ resize: Distro.RunResizeRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        guard let index = try ownedRun(resize.processID, request, connection) else { return }
        try streams.resize(index, rows: resize.rows, cols: resize.cols, request, &connection)
    }

    /// The streamed run `id` (running, or exited and not yet told), if it was started on
    /// this connection; nil for a one-way request to a run that has ended since (as for
    /// the dbg service's processes).
    private func ownedRun(_ id: UInt32, _ request: FrameHeader, _ connection: borrowing Connection) throws(ServiceError) -> Int? {
        _ = try admission(connection)
        let streams = core.processes
        guard let index = streams.streams.index(of: id), streams.streams[index].reply.request.service == ServiceID.distro,
              !streams.streams[index].reply.isDetached else {
            if request.id == 0 && streams.hasEnded(process: id) { return nil }
            throw ServiceError(.notFound, "no distro run with ProcessID " + String(id))
        }
        guard streams.streams[index].reply.connection == connection.ref else {
            throw ServiceError(.denied, "run " + String(id) + " belongs to another connection")
        }
        return index
    }
}
