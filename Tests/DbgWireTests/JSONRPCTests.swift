import DbgWire
import Testing

@Suite("JSON-RPC 2.0 envelope")
struct JSONRPCTests {
    /// Echoes params for "echo", fails "boom" with an application error, knows nothing else.
    private func handler(_ request: JSONRPC.Request) -> Result<JSONValue, JSONRPC.Failure> {
        switch request.method {
        case "echo": return .success(request.params ?? .null)
        case "boom": return .failure(JSONRPC.Failure(code: -32000, message: "it broke", data: .object([JSONMember("code", .string("IO"))])))
        default: return .failure(JSONRPC.Failure(code: JSONRPC.methodNotFound, message: "Method not found"))
        }
    }

    private func answer(_ text: String) -> String? {
        JSONRPC.answer(Array(text.utf8), handler).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("a call, an error with data, an unknown method; ids of each kind come back as given")
    func calls() {
        #expect(answer(#"{"jsonrpc":"2.0","method":"echo","params":[1,"a"],"id":1}"#) == #"{"jsonrpc":"2.0","result":[1,"a"],"id":1}"#)
        #expect(answer(#"{"jsonrpc":"2.0","method":"echo","params":{"x":null},"id":"s-1"}"#)
            == #"{"jsonrpc":"2.0","result":{"x":null},"id":"s-1"}"#)
        #expect(answer(#"{"jsonrpc":"2.0","method":"echo","id":null}"#) == #"{"jsonrpc":"2.0","result":null,"id":null}"#)
        #expect(answer(#"{"jsonrpc":"2.0","method":"boom","id":2}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32000,"message":"it broke","data":{"code":"IO"}},"id":2}"#)
        #expect(answer(#"{"jsonrpc":"2.0","method":"nope","id":3}"#)
            == #"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":3}"#)
    }

    @Test("notifications get no answer, alone or in a batch; a batch answers its calls in order")
    func notificationsAndBatches() {
        #expect(answer(#"{"jsonrpc":"2.0","method":"echo","params":[1]}"#) == nil)
        #expect(answer(#"[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"boom"}]"#) == nil)
        #expect(answer(#"[{"jsonrpc":"2.0","method":"echo","params":[1],"id":1},{"jsonrpc":"2.0","method":"echo"},1,{"jsonrpc":"2.0","method":"echo","params":[2],"id":2}]"#)
            == #"[{"jsonrpc":"2.0","result":[1],"id":1},{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: not an object"},"id":null},{"jsonrpc":"2.0","result":[2],"id":2}]"#)
    }

    @Test("the specification's error cases: parse error, invalid requests, empty and oversized batches")
    func errors() {
        let parse = answer(#"{"jsonrpc":"2.0","method":"echo","params":[1,2"#) ?? ""
        #expect(parse.hasPrefix(#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error: "#) && parse.hasSuffix(#""id":null}"#))
        for (text, why) in [
            (#"{"jsonrpc":"1.0","method":"echo","id":1}"#, #"jsonrpc must be \"2.0\""#),
            (#"{"method":"echo","id":1}"#, #"jsonrpc must be \"2.0\""#),
            (#"{"jsonrpc":"2.0","method":1,"id":1}"#, "method must be a string"),
            (#"{"jsonrpc":"2.0","method":"echo","params":"x","id":1}"#, "params must be an array or an object"),
            (#"{"jsonrpc":"2.0","method":"echo","id":[1]}"#, "id must be a string, a number or null"),
            ("1", "not an object"),
            ("[]", "an empty batch"),
            ("[" + Array(repeating: "1", count: 65).joined(separator: ",") + "]", "a batch of more than 64 requests"),
        ] {
            let said = answer(text) ?? ""
            #expect(said.hasPrefix(#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request: "# + why + "\""), "\(text): \(said)")
        }
        // The id comes back when it can be read, null when it cannot.
        #expect(answer(#"{"jsonrpc":"2.0","method":1,"id":9}"#)?.hasSuffix(#""id":9}"#) == true)
        #expect(answer(#"{"jsonrpc":"2.0","method":"echo","id":{"a":1}}"#)?.hasSuffix(#""id":null}"#) == true)
    }
}
