// Shell types whose layout is the same in the dbg and distro services (and, for
// ShellData and ShellSession, also that of distro's ShellInput and ShellClose requests).

public struct ShellSession: WireCodable, Equatable {
    public var sessionID: UInt32

    public init(sessionID: UInt32) { self.sessionID = sessionID }

    public static func decode(from r: inout WireReader) throws(WireError) -> Self { Self(sessionID: try r.read("SessionID")) }
    public func encode(to w: inout WireWriter) throws(WireError) { try w.write(sessionID) }
}

/// A session id and bytes: ShellOutputEvent in both services, distro's ShellInputRequest.
public struct ShellData: WireCodable, Equatable {
    public var sessionID: UInt32
    public var data: WireBytes

    public init(sessionID: UInt32, data: WireBytes) {
        self.sessionID = sessionID
        self.data = data
    }

    public static func decode(from r: inout WireReader) throws(WireError) -> Self {
        Self(sessionID: try r.read("SessionID"), data: try r.read("Data"))
    }

    public func encode(to w: inout WireWriter) throws(WireError) {
        try w.write(sessionID)
        try w.write(data)
    }
}

public typealias ShellOutputEvent = ShellData

public struct ShellExitEvent: WireCodable, Equatable {
    public var sessionID: UInt32
    public var exitCode: Int64

    public init(sessionID: UInt32, exitCode: Int64) {
        self.sessionID = sessionID
        self.exitCode = exitCode
    }

    public static func decode(from r: inout WireReader) throws(WireError) -> Self {
        Self(sessionID: try r.read("SessionID"), exitCode: try r.read("ExitCode"))
    }

    public func encode(to w: inout WireWriter) throws(WireError) {
        try w.write(sessionID)
        try w.write(exitCode)
    }
}
