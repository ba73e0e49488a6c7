/// The distro service (id 0x70), seed 000: a Linux rootfs to install, run and enter.
public enum Distro {
    public enum Op: UInt16, CaseIterable {
        case status = 0x0201
        case install = 0x0202
        case run = 0x0203
        case remove = 0x0204
        case shellOpen = 0x0205
        case shellInput = 0x0206
        case shellResize = 0x0207
        case shellClose = 0x0208

        /// One-way in the seed: no response unless sent with a non-zero id (then an empty ack).
        public var isOneWay: Bool {
            switch self {
            case .shellInput, .shellResize, .shellClose: return true
            default: return false
            }
        }
    }

    public enum Event: UInt16, CaseIterable {
        case shellOutput = 0x0301
        case shellExit = 0x0302
    }

    public struct StatusResponse: WireCodable, Equatable {
        public var installed: Bool
        public var path: WireBytes
        public var size: Int64

        public init(installed: Bool, path: WireBytes, size: Int64) {
            self.installed = installed
            self.path = path
            self.size = size
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(installed: try r.read("Installed"), path: try r.read("Path"), size: try r.read("Size"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(installed)
            try w.write(path)
            try w.write(size)
        }
    }

    public struct InstallRequest: WireCodable, Equatable {
        public var url: WireBytes

        public init(url: WireBytes) { self.url = url }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self { Self(url: try r.read("URL")) }
        public func encode(to w: inout WireWriter) throws(WireError) { try w.write(url) }
    }

    public struct RunRequest: WireCodable, Equatable {
        public var command: WireBytes
        public var workdir: WireBytes
        public var bind: WireBytes
        public var env: WireBytes
        public var input: WireBytes

        public init(command: WireBytes, workdir: WireBytes, bind: WireBytes, env: WireBytes, input: WireBytes) {
            self.command = command
            self.workdir = workdir
            self.bind = bind
            self.env = env
            self.input = input
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(command: try r.read("Command"), workdir: try r.read("Workdir"), bind: try r.read("Bind"), env: try r.read("Env"), input: try r.read("Input"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(command)
            try w.write(workdir)
            try w.write(bind)
            try w.write(env)
            try w.write(input)
        }
    }

    public struct RunResult: WireCodable, Equatable {
        public var stdout: WireBytes
        public var stderr: WireBytes
        public var exitCode: Int64

        public init(stdout: WireBytes, stderr: WireBytes, exitCode: Int64) {
            self.stdout = stdout
            self.stderr = stderr
            self.exitCode = exitCode
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(stdout: try r.read("Stdout"), stderr: try r.read("Stderr"), exitCode: try r.read("ExitCode"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(stdout)
            try w.write(stderr)
            try w.write(exitCode)
        }
    }

    public struct ShellOpenRequest: WireCodable, Equatable {
        public var workdir: WireBytes
        public var bind: WireBytes
        public var env: WireBytes
        public var rows: Int64
        public var cols: Int64

        public init(workdir: WireBytes, bind: WireBytes, env: WireBytes, rows: Int64, cols: Int64) {
            self.workdir = workdir
            self.bind = bind
            self.env = env
            self.rows = rows
            self.cols = cols
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(workdir: try r.read("Workdir"), bind: try r.read("Bind"), env: try r.read("Env"), rows: try r.read("Rows"), cols: try r.read("Cols"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(workdir)
            try w.write(bind)
            try w.write(env)
            try w.write(rows)
            try w.write(cols)
        }
    }

    /// SessionID uint32, Data []byte.
    public typealias ShellInputRequest = ShellData

    public struct ShellResizeRequest: WireCodable, Equatable {
        public var sessionID: UInt32
        public var rows: Int64
        public var cols: Int64

        public init(sessionID: UInt32, rows: Int64, cols: Int64) {
            self.sessionID = sessionID
            self.rows = rows
            self.cols = cols
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(sessionID: try r.read("SessionID"), rows: try r.read("Rows"), cols: try r.read("Cols"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(sessionID)
            try w.write(rows)
            try w.write(cols)
        }
    }

    /// SessionID uint32.
    public typealias ShellCloseRequest = ShellSession
}
