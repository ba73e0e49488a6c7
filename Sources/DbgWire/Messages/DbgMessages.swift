/// The dbg service (id 0x60), seed 001: sessions, command execution, shells, files.
public enum Dbg {
    public enum Op: UInt16, CaseIterable {
        case authenticate = 0x0601
        case logout = 0x0602
        case runCommand = 0x0610
        case runShell = 0x0611
        case shellOpen = 0x0612
        case shellInput = 0x0613
        case shellResize = 0x0614
        case shellClose = 0x0615
        case readFile = 0x0620
        case writeFile = 0x0621
        // Extensions beyond the seed (documented in docs/PROTOCOL.md).
        case stat = 0x0640
        case listDir = 0x0641
        case mkdir = 0x0642
        case remove = 0x0643
        case rename = 0x0644
        case hash = 0x0645

        /// One-way in the seed: no response unless sent with a non-zero id (then an empty ack).
        public var isOneWay: Bool {
            switch self {
            case .shellInput, .shellResize, .shellClose: return true
            default: return false
            }
        }

        /// The seed's name of the op.
        public var name: StaticString {
            switch self {
            case .authenticate: return "Authenticate"
            case .logout: return "Logout"
            case .runCommand: return "RunCommand"
            case .runShell: return "RunShell"
            case .shellOpen: return "ShellOpen"
            case .shellInput: return "ShellInput"
            case .shellResize: return "ShellResize"
            case .shellClose: return "ShellClose"
            case .readFile: return "ReadFile"
            case .writeFile: return "WriteFile"
            case .stat: return "Stat"
            case .listDir: return "ListDir"
            case .mkdir: return "Mkdir"
            case .remove: return "Remove"
            case .rename: return "Rename"
            case .hash: return "Hash"
            }
        }
    }

    public enum Event: UInt16, CaseIterable {
        case shellOutput = 0x0630
        case shellExit = 0x0631
    }

    public struct AuthRequest: WireCodable, Equatable {
        public var username: WireBytes
        public var password: WireBytes

        public init(username: WireBytes, password: WireBytes) {
            self.username = username
            self.password = password
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(username: try r.read("Username"), password: try r.read("Password"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(username)
            try w.write(password)
        }
    }

    public struct SessionInfo: WireCodable, Equatable {
        public var token: WireBytes
        public var username: WireBytes
        public var uid: UInt32
        public var gid: UInt32
        public var home: WireBytes
        public var shell: WireBytes

        public init(token: WireBytes, username: WireBytes, uid: UInt32, gid: UInt32, home: WireBytes, shell: WireBytes) {
            self.token = token
            self.username = username
            self.uid = uid
            self.gid = gid
            self.home = home
            self.shell = shell
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), username: try r.read("Username"), uid: try r.read("UID"), gid: try r.read("GID"),
                 home: try r.read("Home"), shell: try r.read("Shell"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(username)
            try w.write(uid)
            try w.write(gid)
            try w.write(home)
            try w.write(shell)
        }
    }

    public struct SessionToken: WireCodable, Equatable {
        public var token: WireBytes

        public init(token: WireBytes) { self.token = token }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self { Self(token: try r.read("Token")) }
        public func encode(to w: inout WireWriter) throws(WireError) { try w.write(token) }
    }

    /// RunCommand and RunShell.
    public struct ExecRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var command: WireBytes
        public var cwd: WireBytes
        public var timeoutSec: Int32

        public init(token: WireBytes, command: WireBytes, cwd: WireBytes, timeoutSec: Int32) {
            self.token = token
            self.command = command
            self.cwd = cwd
            self.timeoutSec = timeoutSec
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), command: try r.read("Command"), cwd: try r.read("Cwd"), timeoutSec: try r.read("TimeoutSec"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(command)
            try w.write(cwd)
            try w.write(timeoutSec)
        }
    }

    public struct ExecResult: WireCodable, Equatable {
        public var exitCode: Int64
        public var stdout: WireBytes
        public var stderr: WireBytes
        public var stdoutTruncated: Bool
        public var stderrTruncated: Bool

        public init(exitCode: Int64, stdout: WireBytes, stderr: WireBytes, stdoutTruncated: Bool, stderrTruncated: Bool) {
            self.exitCode = exitCode
            self.stdout = stdout
            self.stderr = stderr
            self.stdoutTruncated = stdoutTruncated
            self.stderrTruncated = stderrTruncated
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(exitCode: try r.read("ExitCode"), stdout: try r.read("Stdout"), stderr: try r.read("Stderr"),
                 stdoutTruncated: try r.read("StdoutTruncated"), stderrTruncated: try r.read("StderrTruncated"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(exitCode)
            try w.write(stdout)
            try w.write(stderr)
            try w.write(stdoutTruncated)
            try w.write(stderrTruncated)
        }
    }

    public struct ShellOpenRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var cwd: WireBytes
        public var rows: Int64
        public var cols: Int64

        public init(token: WireBytes, cwd: WireBytes, rows: Int64, cols: Int64) {
            self.token = token
            self.cwd = cwd
            self.rows = rows
            self.cols = cols
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), cwd: try r.read("Cwd"), rows: try r.read("Rows"), cols: try r.read("Cols"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(cwd)
            try w.write(rows)
            try w.write(cols)
        }
    }

    public struct ShellInputRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var sessionID: UInt32
        public var data: WireBytes

        public init(token: WireBytes, sessionID: UInt32, data: WireBytes) {
            self.token = token
            self.sessionID = sessionID
            self.data = data
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), sessionID: try r.read("SessionID"), data: try r.read("Data"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(sessionID)
            try w.write(data)
        }
    }

    public struct ShellResizeRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var sessionID: UInt32
        public var rows: Int64
        public var cols: Int64

        public init(token: WireBytes, sessionID: UInt32, rows: Int64, cols: Int64) {
            self.token = token
            self.sessionID = sessionID
            self.rows = rows
            self.cols = cols
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), sessionID: try r.read("SessionID"), rows: try r.read("Rows"), cols: try r.read("Cols"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(sessionID)
            try w.write(rows)
            try w.write(cols)
        }
    }

    public struct ShellCloseRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var sessionID: UInt32

        public init(token: WireBytes, sessionID: UInt32) {
            self.token = token
            self.sessionID = sessionID
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), sessionID: try r.read("SessionID"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(sessionID)
        }
    }

    public struct ReadFileRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        public var offset: UInt64
        public var size: UInt32

        public init(token: WireBytes, path: WireBytes, offset: UInt64, size: UInt32) {
            self.token = token
            self.path = path
            self.offset = offset
            self.size = size
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), offset: try r.read("Offset"), size: try r.read("Size"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(offset)
            try w.write(size)
        }
    }

    public struct FileChunk: WireCodable, Equatable {
        public var data: WireBytes
        public var eof: Bool

        public init(data: WireBytes, eof: Bool) {
            self.data = data
            self.eof = eof
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(data: try r.read("Data"), eof: try r.read("Eof"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(data)
            try w.write(eof)
        }
    }

    public struct WriteFileRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        public var offset: UInt64
        public var data: WireBytes
        public var truncate: Bool
        public var mode: UInt32

        public init(token: WireBytes, path: WireBytes, offset: UInt64, data: WireBytes, truncate: Bool, mode: UInt32) {
            self.token = token
            self.path = path
            self.offset = offset
            self.data = data
            self.truncate = truncate
            self.mode = mode
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), offset: try r.read("Offset"), data: try r.read("Data"),
                 truncate: try r.read("Truncate"), mode: try r.read("Mode"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(offset)
            try w.write(data)
            try w.write(truncate)
            try w.write(mode)
        }
    }

    public struct WriteFileResult: WireCodable, Equatable {
        public var written: UInt32

        public init(written: UInt32) { self.written = written }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self { Self(written: try r.read("Written")) }
        public func encode(to w: inout WireWriter) throws(WireError) { try w.write(written) }
    }
}
