import DbgWire

/// The application runtime (seed 002) through the dbg service's AppCall: the JSON-RPC
/// messages its socket takes, with a session.
extension AgentConnection {
    /// One JSON-RPC message (a request or a batch); the answer's text, empty when none is
    /// sent. Waits as long as the calls take (the agent bounds each procedure).
    public func appCall(token: WireBytes, message: [UInt8]) throws(ClientError) -> [UInt8] {
        let result: Dbg.AppCallResult = try withAnswerTimeout(seconds: 0) { () throws(ClientError) in
            try call(service: ServiceID.dbg, op: Dbg.Op.appCall.rawValue, Dbg.AppCallRequest(token: token, message: WireBytes(message)))
        }
        return result.message.bytes
    }

    /// Calls `method`: its result, or the error the runtime answered with.
    public func appRequest(token: WireBytes, method: String, params: JSONValue? = nil) throws(ClientError)
        -> Result<JSONValue, JSONRPC.Failure> {
        var members = [JSONMember("jsonrpc", .string("2.0")), JSONMember("method", .string(method))]
        if let params { members.append(JSONMember("params", params)) }
        members.append(JSONMember("id", .integer(1)))
        let text = try appCall(token: token, message: JSONWriter.encode(.object(members)))
        let answer: JSONValue
        do throws(JSONError) {
            answer = try JSONReader.parse(text)
        } catch {
            throw .malformed("the runtime's answer is not JSON: " + error.message)
        }
        if let result = answer["result"] { return .success(result) }
        guard let error = answer["error"], let code = error["code"]?.integerValue, let message = error["message"]?.stringValue else {
            throw .malformed("the runtime's answer has neither result nor error")
        }
        return .failure(JSONRPC.Failure(code: code, message: message, data: error["data"]))
    }
}
