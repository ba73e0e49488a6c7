/// A protobuf message type (those Scripts/generate-channels writes).
public protocol ProtobufMessage {
    static func decode(from reader: inout ProtobufReader) throws(ProtobufError) -> Self
    func encode(to writer: inout ProtobufWriter) throws(ProtobufError)
}

extension ProtobufMessage {
    /// A whole message; its `bytes` and `string` values are views into `payload`.
    public static func decode(payload: UnsafeRawBufferPointer) throws(ProtobufError) -> Self {
        var reader = ProtobufReader(payload)
        return try decode(from: &reader)
    }

    /// Writes the message at the start of `buffer`; returns its size.
    public func encode(into buffer: UnsafeMutableRawBufferPointer) throws(ProtobufError) -> Int {
        var writer = ProtobufWriter(buffer)
        try encode(to: &writer)
        return writer.count
    }
}
