extension FrameHeader {
    /// Writes one whole frame (header, then `message` as payload) at the start of `buffer`
    /// and returns its size. The header's length is filled in from the payload; a payload
    /// above `maxPayload` is `noRoom`, so no frame larger than the peer accepts is produced.
    public func encodeFrame<M: WireCodable>(
        _ message: M, into buffer: UnsafeMutableRawBufferPointer, maxPayload: UInt32 = .max
    ) throws(WireError) -> Int {
        let limit = min(buffer.count, FrameHeader.size + Int(min(maxPayload, UInt32(Int32.max))))
        var writer = WireWriter(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<limit]))
        _ = try writer.reserve(FrameHeader.size)
        try message.encode(to: &writer)
        var header = self
        header.length = UInt32(writer.count - FrameHeader.size)
        var headerWriter = WireWriter(buffer)
        try header.encode(to: &headerWriter)
        return writer.count
    }
}
