import DbgWire

/// Where Install reads the rootfs archive from: a local file (a path or file://), or an
/// http:// URL. https:// is refused: the agent carries no TLS.
enum ArchiveLocation: Equatable {
    case file([UInt8])
    case http(HTTPLocation)

    static let httpsAdvice = "https is not supported by the agent (it has no TLS): fetch the archive on the host "
        + "and push it to the board (dbg push FILE /tmp/), or run wget or curl on the board with dbg exec, "
        + "then install from the path"

    static func parse(_ url: [UInt8]) throws(ServiceError) -> ArchiveLocation {
        if url.contains(0) { throw ServiceError(.badRequest, "URL: contains a NUL byte") }
        let lower = url.map(lowercased)
        if lower.starts(with: Array("file://".utf8)) {
            let path = Array(url.dropFirst(7))
            guard path.first == UInt8(ascii: "/") else {
                throw ServiceError(.badRequest, "URL: a file:// URL needs an absolute path (file:///PATH)")
            }
            return .file(path)
        }
        if lower.starts(with: Array("http://".utf8)) {
            return .http(try HTTPLocation.parse(Array(url.dropFirst(7))))
        }
        if lower.starts(with: Array("https://".utf8)) { throw ServiceError(.unsupported, httpsAdvice) }
        if let colon = url.firstIndex(of: UInt8(ascii: ":")), url[colon...].starts(with: Array("://".utf8)) {
            let scheme = String(decoding: url[..<colon], as: UTF8.self)
            throw ServiceError(.unsupported, "URL: \(scheme):// is not supported (use a path, file:// or http://)")
        }
        guard url.first == UInt8(ascii: "/") else {
            throw ServiceError(.badRequest, "URL: a local archive needs an absolute path")
        }
        return .file(url)
    }
}

private func lowercased(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
}

/// An http:// URL taken apart.
struct HTTPLocation: Equatable {
    var host: [UInt8]
    var port: UInt16
    /// The request target: path and query, starting with '/'.
    var target: [UInt8]

    var description: String {
        let bracketed = host.contains(UInt8(ascii: ":")) ? "[" + String(decoding: host, as: UTF8.self) + "]"
            : String(decoding: host, as: UTF8.self)
        return "http://\(bracketed)" + (port == 80 ? "" : ":\(port)") + String(decoding: target, as: UTF8.self)
    }

    /// What follows "http://": host, optional port, optional path.
    static func parse(_ rest: [UInt8]) throws(ServiceError) -> HTTPLocation {
        var rest = rest
        if let hash = rest.firstIndex(of: UInt8(ascii: "#")) { rest = Array(rest[..<hash]) }
        let end = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.count
        let authority = Array(rest[..<end])
        var target = Array(rest[end...])
        if target.first != UInt8(ascii: "/") { target = [UInt8(ascii: "/")] + target }
        guard !authority.contains(UInt8(ascii: "@")) else {
            throw ServiceError(.unsupported, "URL: user names and passwords in http:// URLs are not supported")
        }
        var host = authority
        var portText: [UInt8] = []
        if authority.first == UInt8(ascii: "[") {
            guard let close = authority.firstIndex(of: UInt8(ascii: "]")) else {
                throw ServiceError(.badRequest, "URL: unclosed [ in the host")
            }
            host = Array(authority[1..<close])
            let after = authority[(close + 1)...]
            if after.first == UInt8(ascii: ":") { portText = Array(after.dropFirst()) } else if !after.isEmpty {
                throw ServiceError(.badRequest, "URL: unexpected text after the host")
            }
        } else if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            host = Array(authority[..<colon])
            portText = Array(authority[(colon + 1)...])
        }
        guard !host.isEmpty else { throw ServiceError(.badRequest, "URL: no host") }
        var port = 80
        if !portText.isEmpty {
            guard portText.count <= 5, portText.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  let value = Int(String(decoding: portText, as: UTF8.self)), value > 0, value <= 65535 else {
                throw ServiceError(.badRequest, "URL: bad port '\(String(decoding: portText, as: UTF8.self))'")
            }
            port = value
        }
        return HTTPLocation(host: host, port: UInt16(port), target: target)
    }

    /// Where a redirect's Location points, relative to this URL.
    func resolve(_ location: [UInt8]) throws(ServiceError) -> ArchiveLocation {
        let lower = location.map(lowercased)
        if lower.starts(with: Array("http://".utf8)) || lower.starts(with: Array("https://".utf8)) {
            let target = try ArchiveLocation.parse(location)
            if case .file = target { throw ServiceError(.io, "a redirect to a file is not followed") }
            return target
        }
        if location.starts(with: Array("//".utf8)) { return .http(try HTTPLocation.parse(Array(location.dropFirst(2)))) }
        var next = self
        if location.first == UInt8(ascii: "/") {
            next.target = location
        } else {
            let path = target.prefix { $0 != UInt8(ascii: "?") }
            let directory = path.lastIndex(of: UInt8(ascii: "/")).map { Array(path[...$0]) } ?? [UInt8(ascii: "/")]
            next.target = directory + location
        }
        return .http(next)
    }
}
