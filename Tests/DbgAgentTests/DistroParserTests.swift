@testable import DbgAgent
import CSys
import DbgWire
import Foundation
import Testing

/// The untrusted-input parsers of Install, without root and without an agent: the
/// archive location, the HTTP response reader, and the tar reader behind each decoder,
/// fed archives made by the system's tar, gzip, xz and zstd.
@Suite("Distro parsers")
struct DistroParserTests {
    // MARK: Archive locations

    @Test("locations: paths, file:// and http:// URLs; the rest is refused naming why")
    func locations() throws {
        func parse(_ text: String) -> Result<ArchiveLocation, ServiceError> {
            Result { () throws(ServiceError) in try ArchiveLocation.parse(Array(text.utf8)) }
        }
        #expect(parse("/tmp/rootfs.tar") == .success(.file(Array("/tmp/rootfs.tar".utf8))))
        #expect(parse("FILE:///srv/a.tgz") == .success(.file(Array("/srv/a.tgz".utf8))))
        guard case .success(.http(let plain)) = parse("http://example.invalid/dl/rootfs.tar.gz?x=1#frag") else {
            Issue.record("http URL refused")
            return
        }
        #expect(plain == HTTPLocation(host: Array("example.invalid".utf8), port: 80, target: Array("/dl/rootfs.tar.gz?x=1".utf8)))
        guard case .success(.http(let v6)) = parse("http://[fd00::1]:8080") else {
            Issue.record("IPv6 URL refused")
            return
        }
        #expect(v6.host == Array("fd00::1".utf8) && v6.port == 8080 && v6.target == [UInt8(ascii: "/")])
        #expect(v6.description == "http://[fd00::1]:8080/")
        let refusals: [(String, ErrorCode, String)] = [
            ("https://example.invalid/a.tar", .unsupported, "https is not supported"),
            ("ftp://example.invalid/a.tar", .unsupported, "URL: ftp:// is not supported"),
            ("relative/a.tar", .badRequest, "URL: a local archive needs an absolute path"),
            ("file://relative", .badRequest, "URL: a file:// URL needs an absolute path"),
            ("http://user:pw@host/", .unsupported, "URL: user names and passwords"),
            ("http://[::1/", .badRequest, "URL: unclosed ["),
            ("http://host:0/", .badRequest, "URL: bad port '0'"),
            ("http://host:99999/", .badRequest, "URL: bad port '99999'"),
            ("http://:80/", .badRequest, "URL: no host"),
            ("/tmp/a\0b", .badRequest, "URL: contains a NUL byte"),
        ]
        for (text, code, prefix) in refusals {
            guard case .failure(let error) = parse(text) else {
                Issue.record("\(text) was accepted")
                continue
            }
            #expect(error.code == code && error.message.hasPrefix(prefix), "\(text): \(error.message)")
        }
    }

    @Test("redirects: absolute, scheme-relative, host-relative and path-relative Locations")
    func redirects() throws {
        let base = HTTPLocation(host: Array("a.invalid".utf8), port: 80, target: Array("/dir/file.tar?q".utf8))
        func target(_ location: String) -> String? {
            guard case .http(let next)? = try? base.resolve(Array(location.utf8)) else { return nil }
            return next.description
        }
        #expect(target("http://b.invalid:81/x") == "http://b.invalid:81/x")
        #expect(target("//c.invalid/y") == "http://c.invalid/y")
        #expect(target("/z.tar") == "http://a.invalid/z.tar")
        #expect(target("other.tar") == "http://a.invalid/dir/other.tar")
        guard case .failure(let error) = Result(catching: { () throws(ServiceError) in try base.resolve(Array("https://a.invalid/".utf8)) }) else {
            Issue.record("a redirect to https was followed")
            return
        }
        #expect(error.code == .unsupported)
    }

    // MARK: HTTP responses

    /// What `HTTPDownload.response` makes of `raw` sent by a server, and the body read to
    /// its end.
    private func response(_ raw: String) -> Result<(status: String, body: [UInt8]), ServiceError> {
        var ends: [Int32] = [-1, -1]
        guard csys_socketpair(&ends) == 0 else { return .failure(ServiceError(.io, "no socketpair")) }
        let bytes = Array(raw.utf8)
        _ = bytes.withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
        _ = shutdown(ends[1], CSYS_SHUT_WR)
        defer { FileDescriptor(ends[1]).close() }
        let location = HTTPLocation(host: Array("h.invalid".utf8), port: 80, target: Array("/a".utf8))
        return Result { () throws(ServiceError) in
            switch try HTTPDownload.response(on: BufferedSocket(FileDescriptor(ends[0]), cancel: CancelFlag()), location) {
            case .redirect(let target):
                return ("redirect " + String(decoding: target, as: UTF8.self), [])
            case .body(var download):
                defer { download.close() }
                var body: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 7)  // small: chunk and buffer edges are crossed
                while true {
                    let count = try buffer.withUnsafeMutableBufferPointer { (bytes) throws(ServiceError) in
                        try download.read(into: UnsafeMutableRawBufferPointer(bytes))
                    }
                    if count == 0 { return ("body", body) }
                    body += buffer[0..<count]
                }
            }
        }
    }

    @Test("HTTP: Content-Length, chunked and until-close bodies; redirects; errors by status")
    func httpResponses() throws {
        let text = "rootfs bytes, a little longer than one buffer"
        let cases: [(String, String)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)", "body"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nrootf\r\n\(String(text.utf8.count - 5, radix: 16))\r\n"
                + "\(text.dropFirst(5))\r\n0\r\n\r\n", "body"),
            ("HTTP/1.0 200 OK\r\n\r\n\(text)", "body"),
        ]
        for (raw, kind) in cases {
            let got = response(raw)
            guard case .success(let (status, body)) = got else {
                Issue.record("\(raw.prefix(40)): \(got)")
                continue
            }
            #expect(status == kind && body == Array(text.utf8), "\(raw.prefix(40))")
        }
        guard case .success(let redirect) = response("HTTP/1.1 302 Found\r\nLocation: /b\r\n\r\n") else {
            Issue.record("redirect refused")
            return
        }
        #expect(redirect.status == "redirect /b")
        let refusals: [(String, ErrorCode, String)] = [
            ("HTTP/1.1 404 Not Found\r\n\r\n", .notFound, "http://h.invalid/a: HTTP 404 Not Found"),
            ("HTTP/1.1 500 Oops\r\n\r\n", .io, "http://h.invalid/a: HTTP 500 Oops"),
            ("SSH-2.0-OpenSSH\r\n\r\n", .io, "http://h.invalid/a: not an HTTP response"),
            ("HTTP/1.1 302 Found\r\n\r\n", .io, "http://h.invalid/a: HTTP 302 without a Location"),
            ("HTTP/1.1 200 OK\r\n", .io, "http://h.invalid/a: the server closed the connection"),
        ]
        for (raw, code, message) in refusals {
            guard case .failure(let error) = response(raw) else {
                Issue.record("\(raw.prefix(30)) was accepted")
                continue
            }
            #expect(error.code == code && error.message == message, "\(error.message)")
        }
        // Framing that cannot be trusted ends the read with an error, not a wrong body.
        for raw in ["HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\nabc",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"] {
            guard case .failure = response(raw) else {
                Issue.record("\(raw.debugDescription) gave a body")
                continue
            }
        }
    }

    // MARK: Tar

    /// Entries (path, kind, size, data) of the archive at `path` as Install reads it.
    private func entries(of path: String) throws -> [(String, TarEntry.Kind, [UInt8])] {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        var stream = ArchiveStream(.file(FileDescriptor(fd)), what: path)
        try stream.begin()
        var reader = TarReader(stream)
        defer { reader.close() }
        var found: [(String, TarEntry.Kind, [UInt8])] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let entry = try reader.next(cancel: CancelFlag()) {
            var data: [UInt8] = []
            while true {
                let count = try buffer.withUnsafeMutableBufferPointer { (bytes) throws(ServiceError) in
                    try reader.readData(into: UnsafeMutableRawBufferPointer(bytes))
                }
                if count == 0 { break }
                data += buffer[0..<count]
            }
            found.append((String(decoding: entry.path, as: UTF8.self), entry.kind, data))
        }
        try reader.finishArchive()
        return found
    }

    @Test("tar: every decoder, GNU and pax long names, links, directories; entries and data as written",
          arguments: ["", "gzip", "xz", "zstd"])
    func tarArchives(_ compressor: String) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tar-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        let tree = work + "/tree"
        let longName = String(repeating: "n", count: 150)
        try FileManager.default.createDirectory(atPath: tree + "/etc/\(longName)", withIntermediateDirectories: true)
        let payload = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(payload).write(to: URL(fileURLWithPath: tree + "/etc/\(longName)/big.bin"))
        try Data("root:x:0:0::/root:/bin/sh\n".utf8).write(to: URL(fileURLWithPath: tree + "/etc/passwd"))
        try FileManager.default.createSymbolicLink(atPath: tree + "/etc/link", withDestinationPath: "passwd")
        for format in ["gnu", "pax"] {
            var archive = work + "/rootfs-\(format).tar"
            try run(["tar", "--format=\(format)", "-C", tree, "-cf", archive, "."])
            if !compressor.isEmpty {
                try run([compressor, "-q", archive])
                archive += ["gzip": ".gz", "xz": ".xz", "zstd": ".zst"][compressor]!
            }
            let read = try entries(of: archive)
            let byPath = Dictionary(read.map { ($0.0, ($0.1, $0.2)) }, uniquingKeysWith: { first, _ in first })
            #expect(byPath["./etc/\(longName)/big.bin"]?.0 == .regular, "\(format) \(compressor)")
            #expect(byPath["./etc/\(longName)/big.bin"]?.1 == payload, "\(format) \(compressor)")
            #expect(byPath["./etc/passwd"]?.1 == Array("root:x:0:0::/root:/bin/sh\n".utf8))
            #expect(byPath["./etc/link"]?.0 == .symbolicLink)
            #expect(byPath["./etc/\(longName)/"]?.0 == .directory || byPath["./etc/\(longName)"]?.0 == .directory)
            if compressor.isEmpty { try? FileManager.default.removeItem(atPath: archive) }
        }
    }

    @Test("tar: a cut archive and a corrupt header are errors, not entries")
    func tarDamage() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("tar-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work + "/tree", withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 5000).write(to: URL(fileURLWithPath: work + "/tree/a.bin"))
        try run(["tar", "-C", work + "/tree", "-cf", work + "/ok.tar", "a.bin"])
        let whole = try Data(contentsOf: URL(fileURLWithPath: work + "/ok.tar"))
        try whole.prefix(2048).write(to: URL(fileURLWithPath: work + "/cut.tar"))
        #expect(throws: ServiceError.self) { _ = try entries(of: work + "/cut.tar") }
        var corrupt = whole
        corrupt[148] ^= 0x01  // the header checksum no longer matches
        try corrupt.write(to: URL(fileURLWithPath: work + "/corrupt.tar"))
        #expect(throws: ServiceError.self) { _ = try entries(of: work + "/corrupt.tar") }
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(arguments.joined(separator: " ")) failed")
    }
}
