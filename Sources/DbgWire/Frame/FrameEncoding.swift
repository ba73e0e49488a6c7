extension FrameHeader {
    /// Writes one whole frame (header, then `message` as payload) at the start of `buffer`
    /// and returns its size. The header's length is filled in from the payload; a payload
    /// above `maxPayload` is `noRoom`, so no frame larger than the peer accepts is produced.
    public func encodeFrame<M: WireCodable>(
        _ message: M, into buffer: UnsafeMutableRawBufferPointer, maxPayload: UInt32 = .max
    ) throws(WireError) -> Int {
        try encodeFrame(into: buffer, maxPayload: maxPayload) { (writer) throws(WireError) in try message.encode(to: &writer) }
    }

    /// `encodeFrame(_:into:maxPayload:)` with the payload written by `payload`. One copy
    /// of the frame logic serves every message type, where the generic form would be
    /// specialised, whole, for each (firmware size).
    public func encodeFrame(
        into buffer: UnsafeMutableRawBufferPointer, maxPayload: UInt32 = .max,
        payload: (inout WireWriter) throws(WireError) -> Void
    ) throws(WireError) -> Int {
        let limit = min(buffer.count, FrameHeader.size + Int(min(maxPayload, UInt32(Int32.max))))
        var writer = WireWriter(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<limit]))
        _ = try writer.reserve(FrameHeader.size)
        try payload(&writer)
        var header = self
        header.length = UInt32(writer.count - FrameHeader.size)
        var headerWriter = WireWriter(buffer)
        try header.encode(to: &headerWriter)
        return writer.count
    }
}
