// Messages whose bulk data the agent puts in place itself (file data spliced from a
// file, PTY output read straight into the transmit buffer): the fields around the data
// are written by these, so each layout still lives only here.

extension Dbg.FileChunk {
    /// Data's u32 length comes before it, Eof after it.
    public static let bytesBeforeData = 4
    public static let bytesAfterData = 1

    public static func encodeBeforeData(dataLength: Int, to w: inout WireWriter) throws(WireError) {
        try w.integer(UInt32(dataLength))
    }

    public static func encodeAfterData(eof: Bool, to w: inout WireWriter) throws(WireError) {
        try w.write(eof)
    }
}

extension ShellData {
    /// SessionID and Data's u32 length come before the data; nothing after it.
    public static let bytesBeforeData = 8

    public static func encodeBeforeData(sessionID: UInt32, dataLength: Int, to w: inout WireWriter) throws(WireError) {
        try w.write(sessionID)
        try w.integer(UInt32(dataLength))
    }
}
