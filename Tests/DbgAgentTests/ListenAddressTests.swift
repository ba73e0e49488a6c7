@testable import DbgAgent
import Testing

@Suite("Listen addresses")
struct ListenAddressTests {
    @Test("numeric IPv4 and bracketed IPv6 with a port", arguments: [
        ("127.0.0.1:5037", ListenAddress.tcp(host: "127.0.0.1", port: 5037, ipv6: false)),
        ("0.0.0.0:0", .tcp(host: "0.0.0.0", port: 0, ipv6: false)),
        ("[::]:5037", .tcp(host: "::", port: 5037, ipv6: true)),
        ("[fe80::1]:65535", .tcp(host: "fe80::1", port: 65535, ipv6: true)),
    ])
    func valid(_ text: String, _ expected: ListenAddress) throws {
        #expect(try ListenAddress.parseTCP(text) == expected)
    }

    @Test("anything else is refused with the reason", arguments: [
        ("5037", "expected IPv4:PORT or [IPv6]:PORT"),
        ("127.0.0.1:", "the port must be a number"),
        ("127.0.0.1:65536", "the port must be a number"),
        ("127.0.0.1:50a", "the port must be a number"),
        ("::1:5037", "put an IPv6 address in brackets"),
        ("[::1:5037", "expected IPv4:PORT or [IPv6]:PORT"),
        ("[]:5037", "is not a numeric IPv6 address"),
        ("300.1.1.1:1", "is not a numeric IPv4 address"),
    ])
    func invalid(_ text: String, _ reason: String) {
        do throws(ConfigError) {
            _ = try ListenAddress.parseTCP(text)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.message.contains(reason), "\(error.message)")
        }
    }

    @Test("socket addresses print the way users type them")
    func descriptions() {
        #expect(SocketAddress.ipv4("10.0.0.2", port: 80)?.description == "10.0.0.2:80")
        #expect(SocketAddress.ipv6("::1", port: 5037)?.description == "[::1]:5037")
        #expect(SocketAddress.unix("/run/dbgd.sock")?.description == "unix:/run/dbgd.sock")
        #expect(SocketAddress.unix(String(repeating: "x", count: 108)) == nil)
    }

    @Test("byte sizes accept binary suffixes")
    func byteSizes() {
        #expect(parseByteSize("4096") == 4096)
        #expect(parseByteSize("64k") == 65536)
        #expect(parseByteSize("2M") == 2 << 20)
        #expect(parseByteSize("1G") == 1 << 30)
        #expect(parseByteSize("") == nil)
        #expect(parseByteSize("K") == nil)
        #expect(parseByteSize("1.5M") == nil)
        #expect(parseCount("12K", in: 0...100) == nil)
        #expect(parseCount("101", in: 0...100) == nil)
    }
}
