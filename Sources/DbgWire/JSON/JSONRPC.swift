/// JSON-RPC 2.0 (jsonrpc.org/specification): a message read into its requests, and the
/// answer written, for the runtime socket (seed 002) and the dbg op that carries the same
/// calls. What a method does is the caller's `handler`; this is only the envelope: the
/// checks of the specification, batches, notifications (no answer) and the error codes.
public enum JSONRPC {
    public static let parseError: Int64 = -32700
    public static let invalidRequest: Int64 = -32600
    public static let methodNotFound: Int64 = -32601
    public static let invalidParams: Int64 = -32602
    public static let internalError: Int64 = -32603
    /// More requests than this in one batch: the batch is refused.
    public static let maxBatch = 64

    /// One call: `id` nil for a notification (no answer is sent).
    public struct Request: Equatable, Sendable {
        public var id: JSONValue?
        public var method: String
        /// An array or an object; nil when not given.
        public var params: JSONValue?

        public init(id: JSONValue?, method: String, params: JSONValue?) {
            self.id = id
            self.method = method
            self.params = params
        }
    }

    /// What a call failed with: a code (the standard ones above, or the application's),
    /// one line, and data (the agent's error code and message, for application errors).
    public struct Failure: Error, Equatable, Sendable {
        public var code: Int64
        public var message: String
        public var data: JSONValue?

        public init(code: Int64, message: String, data: JSONValue? = nil) {
            self.code = code
            self.message = message
            self.data = data
        }
    }

    /// One element of a message: a request, or why it is none (with the id to answer with).
    public enum Item: Equatable, Sendable {
        case request(Request)
        case invalid(id: JSONValue, Failure)
    }

    /// A message read: refused as a whole (unparsable, an empty or oversized batch) with
    /// the answer to send, or its items in order (`batch`: the answer is an array).
    public enum Incoming: Equatable, Sendable {
        case refused(JSONValue)
        case items([Item], batch: Bool)
    }

    /// Reads one message (a request or a batch) within `maxBytes`.
    public static func read(_ message: UnsafeRawBufferPointer, maxBytes: Int = 1 << 20) -> Incoming {
        let value: JSONValue
        do throws(JSONError) {
            value = try JSONReader.parse(message, maxBytes: maxBytes)
        } catch {
            return .refused(response(id: .null, .failure(Failure(code: parseError, message: "Parse error: " + error.message))))
        }
        guard case .array(let elements) = value else { return .items([item(value)], batch: false) }
        guard !elements.isEmpty, elements.count <= maxBatch else {
            let why = elements.isEmpty ? "an empty batch" : "a batch of more than " + String(maxBatch) + " requests"
            return .refused(response(id: .null, .failure(Failure(code: invalidRequest, message: "Invalid Request: " + why))))
        }
        return .items(elements.map(item), batch: true)
    }

    private static func item(_ value: JSONValue) -> Item {
        switch request(value) {
        case .success(let request): return .request(request)
        case .failure(let failure): return .invalid(id: validID(value["id"]) ?? .null, failure)
        }
    }

    /// The text to send for a message's answers (nil entries: notifications); nil when
    /// there is nothing to send.
    public static func encode(_ answers: [JSONValue?], batch: Bool) -> [UInt8]? {
        let sent = answers.compactMap { $0 }
        if sent.isEmpty { return nil }
        return JSONWriter.encode(batch ? .array(sent) : sent[0])
    }

    /// Answers one message at once with `handler` (every call answered before it returns);
    /// nil when nothing is to be sent back (notifications only).
    public static func answer(_ message: [UInt8], maxBytes: Int = 1 << 20,
                              _ handler: (Request) -> Result<JSONValue, Failure>) -> [UInt8]? {
        let incoming = message.withUnsafeBytes { read($0, maxBytes: maxBytes) }
        switch incoming {
        case .refused(let answer):
            return JSONWriter.encode(answer)
        case .items(let items, let batch):
            let answers = items.map { item -> JSONValue? in
                switch item {
                case .request(let request):
                    let result = handler(request)
                    return request.id.map { response(id: $0, result) }
                case .invalid(let id, let failure):
                    return response(id: id, .failure(failure))
                }
            }
            return encode(answers, batch: batch)
        }
    }

    /// The request `value` is, checked as the specification says.
    public static func request(_ value: JSONValue) -> Result<Request, Failure> {
        func invalid(_ why: String) -> Result<Request, Failure> {
            .failure(Failure(code: invalidRequest, message: "Invalid Request: " + why))
        }
        guard case .object = value else { return invalid("not an object") }
        guard value["jsonrpc"] == .string("2.0") else { return invalid(#"jsonrpc must be "2.0""#) }
        guard let method = value["method"]?.stringValue else { return invalid("method must be a string") }
        var id: JSONValue?
        if let given = value["id"] {
            guard let valid = validID(given) else { return invalid("id must be a string, a number or null") }
            id = valid
        }
        let params = value["params"]
        if let params {
            switch params {
            case .array, .object: break
            default: return invalid("params must be an array or an object")
            }
        }
        return .success(Request(id: id, method: method, params: params))
    }

    private static func validID(_ value: JSONValue?) -> JSONValue? {
        switch value {
        case .some(.string), .some(.number), .some(.null): return value
        default: return nil
        }
    }

    /// {"jsonrpc":"2.0","result":...,"id":...} or {"jsonrpc":"2.0","error":{...},"id":...}
    public static func response(id: JSONValue, _ result: Result<JSONValue, Failure>) -> JSONValue {
        var members = [JSONMember("jsonrpc", .string("2.0"))]
        switch result {
        case .success(let value):
            members.append(JSONMember("result", value))
        case .failure(let failure):
            var error = [JSONMember("code", .integer(failure.code)), JSONMember("message", .string(failure.message))]
            if let data = failure.data { error.append(JSONMember("data", data)) }
            members.append(JSONMember("error", .object(error)))
        }
        members.append(JSONMember("id", id))
        return .object(members)
    }
}
