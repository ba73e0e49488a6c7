/// The head of one HTTP/1.x request (RFC 9112): the request line and the header fields,
/// read where they lie in a receive buffer, strictly. Lines end in CRLF (a bare CR or LF
/// is malformed, so is an obsolete folded line); names are tokens with the colon right
/// after them; values hold no control characters but tabs. A body is framed by
/// Content-Length alone: Transfer-Encoding is refused (411), as are two different
/// lengths. Only the fields a server of this project acts on are kept, as ranges of the
/// buffer; the rest are checked and skipped. Nothing is allocated.
public struct HTTPRequestHead: Equatable, Sendable {
    /// Why a head cannot be served: the status to answer with before closing.
    public struct Refusal: Error, Equatable, Sendable {
        public let status: Int
        public let reason: StaticString

        init(_ status: Int, _ reason: StaticString) {
            self.status = status
            self.reason = reason
        }

        public static func == (a: Refusal, b: Refusal) -> Bool {
            a.status == b.status && a.reason.utf8Start == b.reason.utf8Start
        }
    }

    public enum Method: Equatable, Sendable {
        case get, head, post, put, delete, options
        /// Another token (answered 405 or 501 by the server).
        case other
    }

    public enum Parse: Equatable, Sendable {
        /// More bytes are needed (none of what is there is wrong yet).
        case incomplete
        /// The head, and how many bytes of the buffer it took (its blank line included).
        case complete(HTTPRequestHead, length: Int)
    }

    public static let maxFields = 100

    public var method: Method = .other
    public var methodRange: Range<Int> = 0..<0
    /// The request-target as sent (origin form: path and query).
    public var target: Range<Int> = 0..<0
    /// HTTP/1.1 (true) or HTTP/1.0.
    public var isHTTP11 = true
    public var host: Range<Int>?
    public var contentLength: UInt64 = 0
    /// The Connection field's options.
    public var connectionClose = false
    public var connectionKeepAlive = false
    public var connectionUpgrade = false
    /// Upgrade: websocket.
    public var upgradeWebSocket = false
    public var secWebSocketKey: Range<Int>?
    public var secWebSocketVersion: Range<Int>?
    public var authorization: Range<Int>?
    public var cookie: Range<Int>?
    public var origin: Range<Int>?

    /// Whether the connection stays open after the answer (HTTP/1.1 unless "close";
    /// HTTP/1.0 only with "keep-alive").
    public var keepsAlive: Bool { isHTTP11 ? !connectionClose : connectionKeepAlive && !connectionClose }

    public init() {}

    /// Parses the head at the start of `bytes`, of at most `maxHeadBytes` (431 beyond) and
    /// announcing a body of at most `maxBody` bytes (413 beyond).
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxHeadBytes: Int = 8192,
                             maxBody: UInt64) throws(Refusal) -> Parse {
        var reader = Reader(bytes: bytes, limit: min(bytes.count, maxHeadBytes))
        var head = HTTPRequestHead()
        // A request line may be preceded by empty lines (RFC 9112 section 2.2).
        while reader.startsWith(0x0D, 0x0A) { reader.position += 2 }
        guard let line = try reader.line() else { return try reader.needMore(maxHeadBytes) }
        try head.readRequestLine(bytes, line)
        var fields = 0
        var lengthSeen = false
        while true {
            guard let line = try reader.line() else { return try reader.needMore(maxHeadBytes) }
            if line.isEmpty { break }
            fields += 1
            guard fields <= maxFields else { throw Refusal(431, "more than 100 header fields") }
            try head.readField(bytes, line, lengthSeen: &lengthSeen, maxBody: maxBody)
        }
        if head.isHTTP11 && head.host == nil { throw Refusal(400, "no Host field") }
        return .complete(head, length: reader.position)
    }

    private mutating func readRequestLine(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) throws(Refusal) {
        guard let firstSpace = line.first(where: { bytes[$0] == 0x20 }) else { throw Refusal(400, "malformed request line") }
        methodRange = line.lowerBound..<firstSpace
        guard !methodRange.isEmpty, methodRange.allSatisfy({ HTTPRequestHead.isTokenByte(bytes[$0]) }) else {
            throw Refusal(400, "malformed method")
        }
        let rest = (firstSpace + 1)..<line.upperBound
        guard let secondSpace = rest.first(where: { bytes[$0] == 0x20 }) else { throw Refusal(400, "malformed request line") }
        target = rest.lowerBound..<secondSpace
        guard !target.isEmpty, target.allSatisfy({ bytes[$0] > 0x20 && bytes[$0] < 0x7F }) else {
            throw Refusal(400, "malformed request target")
        }
        guard bytes[target.lowerBound] == UInt8(ascii: "/") || (target.count == 1 && bytes[target.lowerBound] == UInt8(ascii: "*")) else {
            throw Refusal(400, "the request target is not a path")
        }
        let version = (secondSpace + 1)..<line.upperBound
        guard version.count == 8, HTTPRequestHead.equal(bytes, version.lowerBound..<(version.lowerBound + 5), "HTTP/"),
              bytes[version.lowerBound + 6] == UInt8(ascii: ".") else {
            throw Refusal(400, "malformed HTTP version")
        }
        let major = bytes[version.lowerBound + 5], minor = bytes[version.lowerBound + 7]
        guard major == UInt8(ascii: "1"), minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else {
            throw Refusal(505, "only HTTP/1.0 and HTTP/1.1 are served")
        }
        isHTTP11 = minor == UInt8(ascii: "1")
        method = HTTPRequestHead.method(bytes, methodRange)
    }

    private mutating func readField(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>, lengthSeen: inout Bool,
                                    maxBody: UInt64) throws(Refusal) {
        guard let colon = line.first(where: { bytes[$0] == UInt8(ascii: ":") }) else {
            throw Refusal(400, "a header field without a colon")
        }
        let name = line.lowerBound..<colon
        guard !name.isEmpty, name.allSatisfy({ HTTPRequestHead.isTokenByte(bytes[$0]) }) else {
            throw Refusal(400, "malformed header field name")
        }
        var start = colon + 1, end = line.upperBound
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        let value = start..<end
        guard value.allSatisfy({ bytes[$0] >= 0x20 && bytes[$0] != 0x7F || bytes[$0] == 0x09 }) else {
            throw Refusal(400, "a control character in a header field value")
        }
        func named(_ text: StaticString) -> Bool { HTTPRequestHead.equalIgnoringCase(bytes, name, text) }
        if named("host") {
            guard host == nil else { throw Refusal(400, "two Host fields") }
            host = value
        } else if named("content-length") {
            guard let length = HTTPRequestHead.decimal(bytes, value) else { throw Refusal(400, "malformed Content-Length") }
            guard !lengthSeen || length == contentLength else { throw Refusal(400, "two different Content-Lengths") }
            guard length <= maxBody else { throw Refusal(413, "the body is larger than the server takes") }
            contentLength = length
            lengthSeen = true
        } else if named("transfer-encoding") {
            throw Refusal(411, "Transfer-Encoding is not served: send a Content-Length")
        } else if named("connection") {
            HTTPRequestHead.forEachToken(bytes, value) { token in
                if HTTPRequestHead.equalIgnoringCase(bytes, token, "close") { connectionClose = true }
                if HTTPRequestHead.equalIgnoringCase(bytes, token, "keep-alive") { connectionKeepAlive = true }
                if HTTPRequestHead.equalIgnoringCase(bytes, token, "upgrade") { connectionUpgrade = true }
            }
        } else if named("upgrade") {
            HTTPRequestHead.forEachToken(bytes, value) { token in
                if HTTPRequestHead.equalIgnoringCase(bytes, token, "websocket") { upgradeWebSocket = true }
            }
        } else if named("sec-websocket-key") {
            secWebSocketKey = value
        } else if named("sec-websocket-version") {
            secWebSocketVersion = value
        } else if named("authorization") {
            authorization = value
        } else if named("cookie") {
            if cookie == nil { cookie = value }
        } else if named("origin") {
            origin = value
        }
    }

    // MARK: Bytes

    /// tchar (RFC 9110 section 5.6.2).
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    static func method(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Method {
        if equal(bytes, range, "GET") { return .get }
        if equal(bytes, range, "HEAD") { return .head }
        if equal(bytes, range, "POST") { return .post }
        if equal(bytes, range, "PUT") { return .put }
        if equal(bytes, range, "DELETE") { return .delete }
        if equal(bytes, range, "OPTIONS") { return .options }
        return .other
    }

    public static func equal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        for index in 0..<range.count where bytes[range.lowerBound + index] != text.utf8Start[index] { return false }
        return true
    }

    public static func equalIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        for index in 0..<range.count where lower(bytes[range.lowerBound + index]) != lower(text.utf8Start[index]) { return false }
        return true
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte }

    /// Digits only, at most 19 of them.
    static func decimal(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64? {
        guard !range.isEmpty, range.count <= 19 else { return nil }
        var value: UInt64 = 0
        for index in range {
            let byte = bytes[index]
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }

    /// The comma-separated tokens of a list value, without their whitespace.
    static func forEachToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        var start = range.lowerBound
        for index in range.lowerBound...range.upperBound where index == range.upperBound || bytes[index] == UInt8(ascii: ",") {
            var from = start, to = index
            while from < to && (bytes[from] == 0x20 || bytes[from] == 0x09) { from += 1 }
            while to > from && (bytes[to - 1] == 0x20 || bytes[to - 1] == 0x09) { to -= 1 }
            if to > from { body(from..<to) }
            start = index + 1
        }
    }
}

/// Lines of a head: each ends in CRLF, within the limit.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    let limit: Int
    var position = 0

    func startsWith(_ a: UInt8, _ b: UInt8) -> Bool {
        position + 1 < limit && bytes[position] == a && bytes[position + 1] == b
    }

    /// The next line without its CRLF; nil when it has not ended within the limit yet.
    mutating func line() throws(HTTPRequestHead.Refusal) -> Range<Int>? {
        var index = position
        while index < limit {
            switch bytes[index] {
            case 0x0D:
                guard index + 1 < limit else { return nil }
                guard bytes[index + 1] == 0x0A else { throw .init(400, "a bare CR in the head") }
                let line = position..<index
                if index > position && (bytes[position] == 0x20 || bytes[position] == 0x09) {
                    throw .init(400, "an obsolete folded header line")
                }
                position = index + 2
                return line
            case 0x0A:
                throw .init(400, "a line ends in LF without CR")
            case 0x00:
                throw .init(400, "a NUL byte in the head")
            default:
                index += 1
            }
        }
        return nil
    }

    /// The head is not complete: wait for more, unless the limit is reached.
    func needMore(_ maxHeadBytes: Int) throws(HTTPRequestHead.Refusal) -> HTTPRequestHead.Parse {
        guard limit < maxHeadBytes else { throw .init(431, "the request head is larger than the server takes") }
        return .incomplete
    }
}
