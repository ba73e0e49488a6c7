@testable import DbgAgent
import DbgWire
import Testing

@Suite("HTTP requests as the routes read them: paths, credentials, origins; news")
struct HTTPRequestTests {
    private let token = String(repeating: "ab", count: 32)

    private func with(_ text: String, _ body: (HTTPRequest) -> Void) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            guard case .complete(let head, let length)? = try? HTTPRequestHead.parse(raw, maxBody: 1024) else {
                Issue.record("not a request: \(text)")
                return
            }
            body(HTTPRequest(head: head, bytes: raw, headLength: length))
        }
    }

    @Test("paths and the seed's /api/v1/http/ prefix; the query apart")
    func paths() {
        with("GET /api/v1/http/news?x=1 HTTP/1.1\r\nHost: b\r\n\r\n") { request in
            #expect(request.isPath("/api/v1/news") && !request.isPath("/api/v1/auth"))
            #expect(request.query.map { Array(request.bytes[$0]) } == Array("x=1".utf8))
        }
        with("GET / HTTP/1.1\r\nHost: b\r\n\r\n") { #expect($0.isPath("/") && !$0.isPath("/api/v1/news")) }
        with("GET /api/v1/httpnews HTTP/1.1\r\nHost: b\r\n\r\n") { #expect(!$0.isPath("/api/v1/news")) }
    }

    @Test("a token from Bearer, then the cookie, then ?token= where allowed; malformed ones count for nothing")
    func tokens() {
        with("GET / HTTP/1.1\r\nHost: b\r\nAuthorization: bearer \(token)\r\n\r\n") { request in
            #expect(request.token(allowQuery: false)?.source == .header)
        }
        with("GET / HTTP/1.1\r\nHost: b\r\nCookie: a=1; dbg_token=\(token) ; c=2\r\n\r\n") { request in
            #expect(request.token(allowQuery: false)?.token == Array(token.utf8))
            #expect(request.token(allowQuery: false)?.source == .cookie)
        }
        with("GET /ws?a=b&token=\(token) HTTP/1.1\r\nHost: b\r\n\r\n") { request in
            #expect(request.token(allowQuery: false) == nil)
            #expect(request.token(allowQuery: true)?.source == .query)
        }
        for bad in ["Authorization: Basic \(token)", "Cookie: dbg_token=\(token.uppercased())", "Cookie: dbg_token=abc",
                    "Cookie: xdbg_token=\(token)", "Authorization: Bearer \(token)0"] {
            with("GET / HTTP/1.1\r\nHost: b\r\n\(bad)\r\n\r\n") { #expect($0.token(allowQuery: true) == nil, "\(bad)") }
        }
    }

    @Test("an Origin that is not the Host is another site's page")
    func origins() {
        with("GET / HTTP/1.1\r\nHost: board:8080\r\n\r\n") { #expect(!$0.isCrossOrigin) }
        with("GET / HTTP/1.1\r\nHost: board:8080\r\nOrigin: http://BOARD:8080\r\n\r\n") { #expect(!$0.isCrossOrigin) }
        with("GET / HTTP/1.1\r\nHost: board:8080\r\nOrigin: https://board:8080\r\n\r\n") { #expect(!$0.isCrossOrigin) }
        with("GET / HTTP/1.1\r\nHost: board:8080\r\nOrigin: http://evil:8080\r\n\r\n") { #expect($0.isCrossOrigin) }
        with("GET / HTTP/1.1\r\nHost: board\r\nOrigin: http://board:8080\r\n\r\n") { #expect($0.isCrossOrigin) }
        with("GET / HTTP/1.0\r\nOrigin: http://board\r\n\r\n") { #expect($0.isCrossOrigin, "no Host to compare with") }
    }

    @Test("the news ring keeps the newest, newest first, each text bounded")
    func news() {
        let ring = NewsRing()
        #expect(ring.newestFirst.isEmpty)
        for number in 1...(NewsRing.capacity + 5) { ring.add(.login, "item \(number)") }
        let items = ring.newestFirst
        #expect(items.count == NewsRing.capacity)
        #expect(items.first?.text == Array("item \(NewsRing.capacity + 5)".utf8) && items.last?.text == Array("item 6".utf8))
        #expect(items.map(\.serial) == items.map(\.serial).sorted(by: >))
        ring.add(.agent, String(repeating: "x", count: 1000))
        #expect(ring.newestFirst.first?.text.count == NewsRing.maxText)
    }

    @Test("answers: status line, length, no-store, Connection: close when the last; HEAD without the body")
    func responses() {
        var response = HTTPResponse.error(404, "gone", fields: ["X-A: b"])
        let text = String(decoding: response.encoded(keepAlive: false), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"))
        #expect(text.contains("\r\nX-A: b\r\nConnection: close\r\n\r\n{\"error\":\"gone\"}"))
        response.omitBody = true
        #expect(String(decoding: response.encoded(keepAlive: true), as: UTF8.self).hasSuffix("Content-Length: 16\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nX-A: b\r\n\r\n"))
    }
}
