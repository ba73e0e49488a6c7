import DbgWire
import Testing

@Suite("HTTP request heads")
struct HTTPRequestHeadTests {
    private func parse(_ text: String, maxBody: UInt64 = 1 << 20) throws(HTTPRequestHead.Refusal) -> (HTTPRequestHead.Parse, [UInt8]) {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(HTTPRequestHead.Refusal) in try HTTPRequestHead.parse(raw, maxBody: maxBody) }
        }
        return (try result.get(), bytes)
    }

    private func text(_ bytes: [UInt8], _ range: Range<Int>?) -> String? {
        range.map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    @Test("a WebSocket upgrade: method, target, the fields kept, the length of the head")
    func upgrade() throws {
        let request = "GET /api/v1/ws/?token=ab HTTP/1.1\r\nHost: board:8080\r\nUpgrade: websocket\r\n"
            + "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            + "Sec-WebSocket-Version: 13\r\nCookie: dbg=1\r\nX-Other: \t skipped \r\n\r\nrest"
        let (parse, bytes) = try parse(request)
        guard case .complete(let head, let length) = parse else {
            Issue.record("\(parse)")
            return
        }
        #expect(length == request.utf8.count - 4)
        #expect(head.method == .get && head.isHTTP11 && head.keepsAlive)
        #expect(text(bytes, head.target) == "/api/v1/ws/?token=ab" && text(bytes, head.host) == "board:8080")
        #expect(head.connectionUpgrade && head.upgradeWebSocket && !head.connectionClose)
        #expect(text(bytes, head.secWebSocketKey) == "dGhlIHNhbXBsZSBub25jZQ==" && text(bytes, head.secWebSocketVersion) == "13")
        #expect(text(bytes, head.cookie) == "dbg=1" && head.authorization == nil)
    }

    @Test("a POST with a body, HTTP/1.0 keep-alive, leading empty lines, a head still arriving")
    func bodiesAndVersions() throws {
        var (parse, _) = try parse("\r\nPOST /api/v1/auth HTTP/1.1\r\nHost: b\r\nContent-Length: 42\r\ncontent-length: 42\r\n\r\n")
        guard case .complete(let post, _) = parse else { throw TestFailure() }
        #expect(post.method == .post && post.contentLength == 42)
        (parse, _) = try self.parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        guard case .complete(let old, _) = parse else { throw TestFailure() }
        #expect(!old.isHTTP11 && old.keepsAlive && old.host == nil)
        (parse, _) = try self.parse("GET / HTTP/1.0\r\n\r\n")
        guard case .complete(let closing, _) = parse else { throw TestFailure() }
        #expect(!closing.keepsAlive)
        for partial in ["", "GET", "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\nHost: b\r\n", "GET / HTTP/1.1\r\nHost: b\r\n\r"] {
            #expect(try self.parse(partial).0 == .incomplete, "\(partial)")
        }
    }

    @Test("malformed heads are refused with the status that says why")
    func refusals() {
        let cases: [(String, Int)] = [
            ("GET /\r\nHost: b\r\n\r\n", 400),                                   // no version
            ("GET  / HTTP/1.1\r\nHost: b\r\n\r\n", 400),                         // two spaces
            ("G(T / HTTP/1.1\r\nHost: b\r\n\r\n", 400),                          // not a token
            ("GET /a b HTTP/1.1\r\nHost: b\r\n\r\n", 400),                       // space in the target
            ("GET http://x/ HTTP/1.1\r\nHost: b\r\n\r\n", 400),                  // absolute form
            ("GET / HTTP/2.0\r\nHost: b\r\n\r\n", 505),
            ("GET / HTTP/1.1x\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\nHost: b\r\n\r\n", 400),                            // bare LF
            ("GET / HTTP/1.1\r\nHost: b\rX\r\n\r\n", 400),                       // bare CR
            ("GET / HTTP/1.1\r\nHost: b\r\nX-A: 1\r\n  folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost b\r\n\r\n", 400),                           // no colon
            ("GET / HTTP/1.1\r\nHost : b\r\n\r\n", 400),                         // space before the colon
            ("GET / HTTP/1.1\r\n: b\r\nHost: b\r\n\r\n", 400),                   // empty name
            ("GET / HTTP/1.1\r\nHost: b\r\nX: a\u{1}b\r\n\r\n", 400),            // control byte
            ("GET / HTTP/1.1\r\nHost: b\r\nX: a\u{0}b\r\n\r\n", 400),            // NUL
            ("GET / HTTP/1.1\r\n\r\n", 400),                                     // HTTP/1.1 without Host
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: -1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 1 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 12345678901234567890\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: b\r\nContent-Length: 2000000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: b\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
            ("GET / HTTP/1.1\r\nHost: b\r\n" + String(repeating: "X-A: 1\r\n", count: 101) + "\r\n", 431),
            ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n", 431),
            ("GET / HTTP/1.1\r\nHost: b\r\nX: " + String(repeating: "v", count: 9000), 431),
        ]
        for (request, status) in cases {
            #expect(throws: HTTPRequestHead.Refusal.self, "\(request.prefix(60))") { _ = try parse(request) }
            do throws(HTTPRequestHead.Refusal) {
                _ = try parse(request)
            } catch {
                #expect(error.status == status, "\(request.prefix(60)): \(error.reason)")
            }
        }
    }
}

private struct TestFailure: Error {}
