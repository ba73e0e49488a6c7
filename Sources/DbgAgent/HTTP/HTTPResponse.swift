import DbgWire

/// The answers the HTTP front end writes: a status line and the header fields it always
/// sends, then a body (JSON, or the console page). Bodies are small: built whole, then
/// copied into the connection's transmit buffer.
struct HTTPResponse {
    var status: Int
    var contentType: StaticString = "application/json"
    var body: [UInt8] = []
    /// Header fields beyond the usual ones, each a whole "Name: value" line without CRLF.
    var fields: [String] = []
    /// HEAD: the fields of the answer, without its body.
    var omitBody = false

    init(status: Int, contentType: StaticString = "application/json", body: [UInt8] = [], fields: [String] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.fields = fields
    }

    /// A JSON answer.
    static func json(_ status: Int, _ value: JSONValue, fields: [String] = []) -> HTTPResponse {
        HTTPResponse(status: status, body: JSONWriter.encode(value), fields: fields)
    }

    /// `{"error": message}` with the status.
    static func error(_ status: Int, _ message: String, fields: [String] = []) -> HTTPResponse {
        json(status, .object([JSONMember("error", .string(message))]), fields: fields)
    }

    /// The bytes to send; `keepAlive` false adds "Connection: close".
    func encoded(keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 " + String(status) + " " + HTTPResponse.reason(status) + "\r\n"
        head += "Content-Type: " + contentType.text + "\r\n"
        head += "Content-Length: " + String(body.count) + "\r\n"
        head += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
        for field in fields { head += field + "\r\n" }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + (omitBody ? [] : body)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 426: return "Upgrade Required"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }
}
