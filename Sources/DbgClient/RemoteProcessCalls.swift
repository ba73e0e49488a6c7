import DbgWire

/// The streaming process ops (ProcessStart and the one-way ops after it). Its output,
/// credits and exit come as events (see `receive`).
extension AgentConnection {
    /// What to start: `argv` word for word, or (argv empty) `command` with the user's shell.
    public struct ProcessSpec: Sendable {
        public var argv: [[UInt8]] = []
        public var command: [UInt8] = []
        public var cwd = ""
        public var environment: [[UInt8]] = []
        /// Rows and columns of a PTY; nil for pipes.
        public var terminal: (rows: Int64, cols: Int64)?
        public var timeoutSeconds: Int32 = 0

        public init() {}

        public func request(token: WireBytes) -> Dbg.ProcessStartRequest {
            Dbg.ProcessStartRequest(
                token: token, argv: argv.map { Dbg.Argument(value: WireBytes($0)) }, command: WireBytes(command),
                cwd: WireBytes(cwd), env: environment.map { Dbg.Argument(value: WireBytes($0)) },
                terminal: terminal != nil, rows: terminal?.rows ?? 0, cols: terminal?.cols ?? 0, timeoutSec: timeoutSeconds)
        }
    }

    public func startProcess(token: String, _ spec: ProcessSpec) throws(ClientError) -> ProcessStarted {
        try call(service: ServiceID.dbg, op: Dbg.Op.processStart.rawValue, spec.request(token: WireBytes(token)))
    }

    /// Stdin bytes, one-way; the caller keeps within the input window.
    public func processInput(token: String, process: UInt32, _ data: [UInt8]) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.processInput.rawValue, id: 0,
                 Dbg.ProcessInputRequest(token: WireBytes(token), processID: process, data: WireBytes(data)))
    }

    public func closeProcessInput(token: String, process: UInt32) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.processCloseInput.rawValue, id: 0,
                 Dbg.ProcessRef(token: WireBytes(token), processID: process))
    }

    public func signalProcess(token: String, process: UInt32, signal: Int32) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.processSignal.rawValue, id: 0,
                 Dbg.ProcessSignalRequest(token: WireBytes(token), processID: process, signal: signal))
    }

    public func resizeProcess(token: String, process: UInt32, rows: Int64, cols: Int64) throws(ClientError) {
        try send(service: ServiceID.dbg, op: Dbg.Op.processResize.rawValue, id: 0,
                 Dbg.ProcessResizeRequest(token: WireBytes(token), processID: process, rows: rows, cols: cols))
    }
}
