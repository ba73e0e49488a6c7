import CSys
@testable import DbgAgent
import Testing

/// The distro HTTP client's response parser, fed from a socketpair (what the agent reads
/// from a server). Only root runs the distro end-to-end tests; these run everywhere.
@Suite("HTTP responses")
struct HTTPResponseTests {
    enum Outcome: Equatable {
        case body(String)
        case failed(String)
    }

    /// The body, or the failure's message.
    private func body(of response: String) -> Outcome {
        var ends: [Int32] = [-1, -1]
        guard csys_socketpair(&ends) == 0 else { return .failed("no socketpair") }
        let bytes = Array(response.utf8)
        _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        _ = shutdown(ends[1], CSYS_SHUT_WR)
        defer { FileDescriptor(ends[1]).close() }
        guard case .http(let location)? = try? ArchiveLocation.parse(Array("http://board.invalid/x.tar".utf8)) else {
            return .failed("no location")
        }
        do throws(ServiceError) {
            switch try HTTPDownload.response(on: BufferedSocket(FileDescriptor(ends[0]), cancel: CancelFlag()), location) {
            case .redirect(let target): return .body("redirect " + String(decoding: target, as: UTF8.self))
            case .body(var download):
                defer { download.close() }
                var text: [UInt8] = []
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
                defer { buffer.deallocate() }
                while true {
                    let count = try download.read(into: buffer)
                    if count == 0 { return .body(String(decoding: text, as: UTF8.self)) }
                    text += buffer[0..<count]
                }
            }
        } catch {
            return .failed(error.message)
        }
    }

    @Test("bodies by length, by chunks (extensions, trailers) and until close; redirects")
    func bodies() {
        #expect(body(of: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") == .body("hello"))
        #expect(body(of: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nT: v\r\n\r\n")
            == .body("hello!"))
        #expect(body(of: "HTTP/1.0 200 OK\r\n\r\nuntil close") == .body("until close"))
        #expect(body(of: "HTTP/1.1 302 Found\r\nLocation: /y.tar\r\n\r\n") == .body("redirect /y.tar"))
    }

    @Test("negative or signed sizes are refused, not read (a negative chunk size crashed the agent)")
    func signedSizes() {
        for size in ["-ed", "+5", "-0"] {
            #expect(body(of: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\nhello\r\n0\r\n\r\n")
                == .failed("http://board.invalid/x.tar: bad chunk size"), "\(size)")
        }
        for length in ["-5", "+5", "5x", ""] {
            #expect(body(of: "HTTP/1.1 200 OK\r\nContent-Length: \(length)\r\n\r\nhello")
                == .failed("http://board.invalid/x.tar: bad Content-Length"), "\(length)")
        }
    }
}
