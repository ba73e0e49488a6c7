import CSys
import DbgWire

/// PTYs, for shells and for streaming processes with a terminal: the size a request
/// asks for, and a program started on a new one.
extension ProcessHost {
    static let defaultRows: Int64 = 24
    static let defaultCols: Int64 = 80
    /// (Its value is spelled out in `side`'s message.)
    static let maxTerminalSide: Int64 = 10_000

    /// Rows and Cols: 0 means 24 x 80; negative or above 10000 is BadRequest.
    static func terminalSize(_ rows: Int64, _ cols: Int64) throws(ServiceError) -> (rows: UInt16, cols: UInt16) {
        (try side(rows, "Rows", default: defaultRows), try side(cols, "Cols", default: defaultCols))
    }

    private static func side(_ value: Int64, _ name: StaticString, default standard: Int64) throws(ServiceError) -> UInt16 {
        guard value >= 0 && value <= maxTerminalSide else {
            throw ServiceError(.badRequest, name.text + ": must be from 0 to 10000, not " + String(value))
        }
        return UInt16(value == 0 ? standard : value)
    }

    /// A started program and the master of the new PTY that is its controlling terminal.
    struct TerminalLaunch: ~Copyable {
        let pid: Int32
        let master: OwnedDescriptor
    }

    /// Starts `spec` on a new PTY of `rows` x `cols` (shells, streaming processes with a
    /// terminal). The agent's slave closes when this returns: the program has its own,
    /// and the master then sees when every one is gone.
    static func launchOnNewTerminal(_ spec: LaunchSpec, rows: UInt16, cols: UInt16) throws(LaunchFailure) -> TerminalLaunch {
        var (masterFD, slaveFD): (Int32, Int32) = (-1, -1)
        guard csys_open_pty(&masterFD, &slaveFD, rows, cols) == 0 else { throw LaunchFailure(stage: .terminal, errno: .current) }
        let master = OwnedDescriptor(masterFD)
        let slave = OwnedDescriptor(slaveFD)
        var onTerminal = spec
        onTerminal.io = .terminal(slave.descriptor)
        return TerminalLaunch(pid: try ProcessLauncher.launch(onTerminal), master: master)
    }
}
