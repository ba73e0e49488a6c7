import DbgWire
import Testing

@Suite("JSON reader and writer")
struct JSONTests {
    private func read(_ text: String, maxDepth: Int = 64) throws(JSONError) -> JSONValue {
        try JSONReader.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    private func readBytes(_ bytes: [UInt8]) throws(JSONError) -> JSONValue { try JSONReader.parse(bytes) }

    @Test("documents read as written, members in order, and write back to text that reads the same")
    func roundTrip() throws {
        let text = #"{"jsonrpc":"2.0","method":"execute","params":{"id":"a","procedure":"/actions/x/run","input":[1,-0.5,2e10,true,false,null,"é\n\u0001"],"timeout":null},"id":7}"#
        let value = try read(text)
        #expect(value["method"]?.stringValue == "execute" && value["id"]?.integerValue == 7)
        #expect(value["params"]?["procedure"]?.stringValue == "/actions/x/run")
        guard case .object(let members) = value else { Issue.record("not an object"); return }
        #expect(members.map { String(decoding: $0.key, as: UTF8.self) } == ["jsonrpc", "method", "params", "id"])
        let written = JSONWriter.encode(value)
        #expect(String(decoding: written, as: UTF8.self) == text)
        #expect(try readBytes(written) == value)
        #expect(try read(" \t\r\n[ ] ") == .array([]) && (try read("{}")) == .object([]) && (try read("\"\"")) == .string([]))
    }

    @Test("numbers keep their text: no rounding, integers only where exact")
    func numbers() throws {
        for text in ["0", "-0", "1.10", "1e400", "-12.5E-3", "12345678901234567890", "9223372036854775807"] {
            guard case .number(let number) = try read(text) else { Issue.record("\(text) is not a number"); continue }
            #expect(String(decoding: number.text, as: UTF8.self) == text)
        }
        #expect(try read("9223372036854775807").integerValue == Int64.max)
        #expect(try read("-9223372036854775808").integerValue == Int64.min)
        #expect(try read("9223372036854775808").integerValue == nil)
        #expect(try read("1.0").integerValue == nil && (try read("1e2")).integerValue == nil)
        #expect(JSONWriter.encode(.integer(-42)) == Array("-42".utf8))
    }

    @Test("strings: escapes, surrogate pairs, UTF-8 as it is; the writer escapes what it must")
    func strings() throws {
        #expect(try read(#""\"\\\/\b\f\n\r\t""#).stringValue == "\"\\/\u{8}\u{c}\n\r\t")
        #expect(try read(#""\u00e9\ud83d\ude00""#).stringValue == "é😀")
        #expect(try read("\"é😀\"").stringValue == "é😀")
        let written = String(decoding: JSONWriter.encode(.string("a\"b\\c\n\u{1F}é")), as: UTF8.self)
        #expect(written == #""a\"b\\c\n\u001fé""#)
    }

    @Test("malformed JSON of 20 kinds is refused with what and where, never accepted in part")
    func refusals() {
        let cases: [(String, JSONError.Kind)] = [
            ("", .syntax), ("{", .syntax), ("[1,", .syntax), (#"{"a":1"#, .syntax), (#""abc"#, .syntax),
            ("[1,]", .syntax), (#"{"a":1,}"#, .syntax), ("{a:1}", .syntax), ("tru", .syntax), ("nul", .syntax),
            ("01", .trailing), ("1.", .syntax), ("-", .syntax), (".5", .syntax), ("1e", .syntax), ("+1", .syntax),
            ("[1] x", .trailing), (#"{"a":1,"a":2}"#, .duplicateKey), (#""\x""#, .badEscape), (#""\ud800""#, .badEscape),
            (#""\udc00x""#, .badEscape), (#""\u12""#, .badEscape), ("\"a\u{1}b\"", .syntax), ("NaN", .syntax),
        ]
        for (text, kind) in cases {
            #expect(throws: JSONError.self, "\(text)") { try read(text) }
            do { _ = try read(text) } catch { #expect(error.kind == kind, "\(text): \(error.kind)") }
        }
        #expect(throws: JSONError(.numberTooLong, at: 0)) { try read(String(repeating: "9", count: 300)) }
    }

    @Test("invalid UTF-8: overlong forms, surrogates, past U+10FFFF, cut sequences, stray continuation bytes")
    func badUTF8() {
        for bytes: [UInt8] in [[0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
                               [0xE2, 0x82], [0x80], [0xFF]] {
            #expect(throws: JSONError.self) { try readBytes([0x22] + bytes + [0x22]) }
            do { _ = try readBytes([0x22] + bytes + [0x22]) } catch { #expect(error.kind == .badUTF8, "\(bytes)") }
        }
    }

    @Test("nesting and size are bounded: deeper than the limit and larger than the frame are refused")
    func bounds() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONError.self) { try read(deep) }
        #expect(try read(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) != .null)
        #expect(throws: JSONError(.tooDeep, at: 5)) { try read(#"{"a":{"b":1}}"#, maxDepth: 1) }
        let hugeNesting = String(repeating: "[", count: 100_000)
        #expect(throws: JSONError.self) { try read(hugeNesting) }
        #expect(throws: JSONError(.tooLarge, at: 4)) { try JSONReader.parse(Array("[1,2]".utf8), maxBytes: 4) }
    }
}
