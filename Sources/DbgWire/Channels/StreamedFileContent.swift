/// A Command whose body is a File with more content than one message buffer holds: a
/// files channel's `file` answer, or a `write` request. The content is the File's last
/// field and the File the Command's last but for `ref`, so that the bytes before the
/// content (the head) are few, and the content streams between the head and the end of
/// the message instead of being held whole. (Protobuf readers take fields in any order,
/// and every protobuf library writes fields in number order: channel, session, the body,
/// then ref, which is field 1000.)
public enum StreamedFileContent {
    /// The bodies that carry a File this way.
    public static let writeField: UInt32 = 32
    public static let fileField: UInt32 = 40

    /// The head of a Command on `channel` with `session` and `ref` (here before the
    /// body) whose body `field` is a File with `path`, type REGULAR, and `contentLength`
    /// bytes of content, which the caller sends right after the head and which end the
    /// message. Returns the head's size.
    public static func writeHead(channel: Int32, session: Int32, ref: WireBytes, field: UInt32, path: WireBytes,
                                 contentLength: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ProtobufError) -> Int {
        var writer = ProtobufWriter(buffer)
        try writer.int32(1, channel)
        try writer.int32(2, session)
        try writer.bytes(1000, ref)
        let pathBytes = path.isEmpty ? 0 : 1 + ProtobufWriter.varintSize(UInt64(path.count)) + path.count
        let contentHead = 1 + ProtobufWriter.varintSize(contentLength)
        try writer.streamedHead(field, length: UInt64(pathBytes + contentHead) + contentLength)
        try writer.bytes(1, path)
        try writer.streamedHead(3, length: contentLength)
        return writer.count
    }

    /// What comes before a write's content: the Command's fields read so far (a `ref`
    /// usually follows the content), the File's path, and where the content starts in
    /// the bytes read and how long it is.
    public struct Head {
        public var channel: Int32 = 0
        public var session: Int32 = 0
        public var ref = WireBytes.empty
        public var path = WireBytes.empty
        public var contentOffset = 0
        public var contentLength: UInt64 = 0
    }

    /// The head of a `write` Command from the first `bytes` of its message (its values
    /// are views into them), or nil when they are not that: no write body in them, or a
    /// write whose content is not the File's last field or does not run past them.
    /// Throws for bytes that are not protobuf, or a field (before the content) that runs
    /// past them.
    public static func readWriteHead(_ bytes: UnsafeRawBufferPointer) throws(ProtobufError) -> Head? {
        var reader = ProtobufReader(bytes)
        var head = Head()
        while let field = try reader.nextField() {
            switch field {
            case 1: head.channel = try reader.int32()
            case 2: head.session = try reader.int32()
            case 1000: head.ref = try reader.string()
            case writeField:
                let fileLength = try reader.streamedLength()
                let fileStart = reader.offset
                var file = ProtobufReader(UnsafeRawBufferPointer(rebasing: bytes[fileStart...]), depth: 1)
                while let fileField = try file.nextField() {
                    switch fileField {
                    case 1:
                        head.path = try file.string()
                    case 3:
                        head.contentLength = try file.streamedLength()
                        head.contentOffset = fileStart + file.offset
                        let contentEnd = UInt64(file.offset) + head.contentLength
                        guard contentEnd == fileLength, UInt64(head.contentOffset) + head.contentLength > UInt64(bytes.count) else {
                            return nil
                        }
                        return head
                    default:
                        try file.skip()
                    }
                }
                return nil
            default:
                try reader.skip()
            }
        }
        return nil
    }
}
