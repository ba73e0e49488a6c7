import DbgWire

/// A request whose head and body are in the receive buffer: its parts as the routes need
/// them (path, query, credentials), read where they lie.
struct HTTPRequest {
    let head: HTTPRequestHead
    /// The receive buffer's bytes from the head's start.
    let bytes: UnsafeRawBufferPointer
    let body: Range<Int>
    let path: Range<Int>
    let query: Range<Int>?

    init(head: HTTPRequestHead, bytes: UnsafeRawBufferPointer, headLength: Int) {
        self.head = head
        self.bytes = bytes
        body = headLength..<(headLength + Int(head.contentLength))
        let target = head.target
        if let mark = target.first(where: { bytes[$0] == UInt8(ascii: "?") }) {
            path = target.lowerBound..<mark
            query = (mark + 1)..<target.upperBound
        } else {
            path = target
            query = nil
        }
    }

    var bodyBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[body]) }

    /// The path without "/api/v1/http" in front (the seed names that prefix as well).
    func isPath(_ text: StaticString) -> Bool {
        if HTTPRequestHead.equal(bytes, path, text) { return true }
        let prefix: StaticString = "/api/v1/http"
        let short = prefix.utf8CodeUnitCount
        guard path.count > short, HTTPRequestHead.equal(bytes, path.lowerBound..<(path.lowerBound + short), prefix),
              text.utf8CodeUnitCount > 7 else { return false }
        // "/api/v1/http/auth" stands for "/api/v1/auth".
        let rest = (path.lowerBound + short)..<path.upperBound
        let tail = text.utf8CodeUnitCount - 7  // after "/api/v1"
        guard rest.count == tail else { return false }
        for index in 0..<tail where bytes[rest.lowerBound + index] != text.utf8Start[7 + index] { return false }
        return true
    }

    /// The channel protocol's endpoint (seed 004): /wsv2/TOKEN.
    var isChannelPath: Bool { channelTokenRange != nil }

    /// The token of /wsv2/TOKEN, if well-formed (64 hex digits).
    var channelToken: [UInt8]? {
        guard let range = channelTokenRange, HTTPRequest.isToken(bytes, range) else { return nil }
        return Array(bytes[range])
    }

    private var channelTokenRange: Range<Int>? {
        let prefix: StaticString = "/wsv2/"
        let length = prefix.utf8CodeUnitCount
        guard path.count >= length, HTTPRequestHead.equal(bytes, path.lowerBound..<(path.lowerBound + length), prefix) else {
            return nil
        }
        return (path.lowerBound + length)..<path.upperBound
    }

    // MARK: Credentials

    static let cookieName: StaticString = "dbg_token"

    /// Where a token came from: a cookie (which a browser sends on its own, so its
    /// request is checked against cross-site use) or what the caller put in on purpose.
    enum TokenSource { case cookie, header, query }

    /// The session token: `Authorization: Bearer`, then the `dbg_token` cookie, then
    /// (where `allowQuery`) `?token=`. Only a well-formed token (64 hex digits) counts.
    func token(allowQuery: Bool) -> (token: [UInt8], source: TokenSource)? {
        if let field = head.authorization, field.count > 7,
           HTTPRequestHead.equalIgnoringCase(bytes, field.lowerBound..<(field.lowerBound + 7), "Bearer ") {
            let value = (field.lowerBound + 7)..<field.upperBound
            if HTTPRequest.isToken(bytes, value) { return (Array(bytes[value]), .header) }
        }
        if let cookie = head.cookie, let value = HTTPRequest.pair(bytes, cookie, separator: UInt8(ascii: ";"), named: HTTPRequest.cookieName),
           HTTPRequest.isToken(bytes, value) {
            return (Array(bytes[value]), .cookie)
        }
        if allowQuery, let query, let value = HTTPRequest.pair(bytes, query, separator: UInt8(ascii: "&"), named: "token"),
           HTTPRequest.isToken(bytes, value) {
            return (Array(bytes[value]), .query)
        }
        return nil
    }

    /// A browser's request from another site carries an Origin that is not this host:
    /// refused where a cookie would authenticate it (cross-site request forgery).
    var isCrossOrigin: Bool {
        guard let origin = head.origin else { return false }
        guard let host = head.host else { return true }
        var start = origin.lowerBound
        for scheme: StaticString in ["http://", "https://"] {
            let end = origin.lowerBound + scheme.utf8CodeUnitCount
            if end <= origin.upperBound, HTTPRequestHead.equalIgnoringCase(bytes, origin.lowerBound..<end, scheme) { start = end }
        }
        let named = start..<origin.upperBound
        guard named.count == host.count else { return true }
        for index in 0..<named.count where HTTPRequest.lower(bytes[named.lowerBound + index]) != HTTPRequest.lower(bytes[host.lowerBound + index]) {
            return true
        }
        return false
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte + 32 : byte }

    private static func isToken(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        range.count == SessionTable.tokenLength && range.allSatisfy {
            (bytes[$0] >= UInt8(ascii: "0") && bytes[$0] <= UInt8(ascii: "9")) || (bytes[$0] >= UInt8(ascii: "a") && bytes[$0] <= UInt8(ascii: "f"))
        }
    }

    /// The value of `name=value` in a list split by `separator` (spaces around trimmed).
    private static func pair(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, separator: UInt8, named name: StaticString) -> Range<Int>? {
        var start = range.lowerBound
        for index in range.lowerBound...range.upperBound where index == range.upperBound || bytes[index] == separator {
            var from = start
            while from < index && bytes[from] == 0x20 { from += 1 }
            let length = name.utf8CodeUnitCount
            if index - from > length, HTTPRequestHead.equal(bytes, from..<(from + length), name),
               bytes[from + length] == UInt8(ascii: "=") {
                var to = index
                while to > from + length + 1 && bytes[to - 1] == 0x20 { to -= 1 }
                return (from + length + 1)..<to
            }
            start = index + 1
        }
        return nil
    }
}
