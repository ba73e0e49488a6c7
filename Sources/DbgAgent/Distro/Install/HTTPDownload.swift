import CSys
import DbgPlatform
import DbgWire

/// A GET over HTTP/1.1, on the install thread (it blocks, in short polls that watch the
/// cancel flag). Follows up to five redirects; reads the body by Content-Length, by
/// chunked transfer coding, or until the server closes.
struct HTTPDownload {
    static let connectTimeoutMs: Int32 = 10_000
    static let maxRedirects = 5
    static let maxHeaderBytes = 16 << 10

    private enum Framing {
        case length(remaining: Int64)
        /// `remaining` bytes of the current chunk; `started`: a chunk came before (its
        /// CRLF is still to be read).
        case chunked(remaining: Int64, started: Bool)
        case untilClose
        case done
    }

    private var socket: BufferedSocket
    private var framing: Framing
    let location: HTTPLocation
    private(set) var received: Int64 = 0

    private init(socket: BufferedSocket, framing: Framing, location: HTTPLocation) {
        self.socket = socket
        self.framing = framing
        self.location = location
    }

    static func open(_ start: HTTPLocation, cancel: CancelFlag) throws(ServiceError) -> HTTPDownload {
        var location = start
        for _ in 0...maxRedirects {
            switch try request(location, cancel: cancel) {
            case .body(let download):
                return download
            case .redirect(let next):
                guard case .http(let target) = try location.resolve(next) else {
                    throw ServiceError(.io, "\(location.description): redirected to a file")
                }
                location = target
            }
        }
        throw ServiceError(.io, "\(start.description): more than \(maxRedirects) redirects")
    }

    enum Response {
        case body(HTTPDownload)
        case redirect([UInt8])
    }

    private static func request(_ location: HTTPLocation, cancel: CancelFlag) throws(ServiceError) -> Response {
        let host = String(decoding: location.host, as: UTF8.self)
        let fd: Int32
        do throws(TCPConnection.Failure) {
            fd = try TCPConnection.connect(host: host, port: location.port, timeoutMs: connectTimeoutMs)
        } catch {
            switch error {
            case .resolve(let reason):
                throw ServiceError(.io, location.description + ": cannot resolve " + host + ": " + reason)
            case .connect(let failure):
                throw .io(location.description + ": cannot connect", Errno(failure.code))
            }
        }
        let socket = BufferedSocket(FileDescriptor(fd), cancel: cancel)
        let hostHeader = location.host.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        let head = "GET " + String(decoding: location.target, as: UTF8.self) + " HTTP/1.1\r\nHost: \(hostHeader)"
            + (location.port == 80 ? "" : ":\(location.port)")
            + "\r\nUser-Agent: dbgd/\(Release.number)\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
        do throws(ServiceError) {
            try socket.writeAll(Array(head.utf8), what: location.description)
        } catch {
            socket.close()
            throw error
        }
        return try response(on: socket, location)
    }

    /// The server's answer on `socket` (which it then owns): a body to read, or where
    /// a redirect points.
    static func response(on socket: BufferedSocket, _ location: HTTPLocation) throws(ServiceError) -> Response {
        var socket = socket
        let head: Head
        do throws(ServiceError) {
            head = try readHead(&socket, location)
        } catch {
            socket.close()
            throw error
        }
        if [301, 302, 303, 307, 308].contains(head.status) {
            socket.close()
            guard let target = head.location else {
                throw ServiceError(.io, "\(location.description): HTTP \(head.status) without a Location")
            }
            return .redirect(target)
        }
        guard head.status == 200 else {
            socket.close()
            let code: ErrorCode = head.status == 404 ? .notFound : .io
            throw ServiceError(code, "\(location.description): HTTP \(head.status) \(head.reason)")
        }
        let framing: Framing = head.chunked ? .chunked(remaining: 0, started: false)
            : head.length.map { .length(remaining: $0) } ?? .untilClose
        return .body(HTTPDownload(socket: socket, framing: framing, location: location))
    }

    private struct Head {
        var status = 0
        var reason = ""
        var length: Int64?
        var chunked = false
        var location: [UInt8]?
    }

    private static func readHead(_ socket: inout BufferedSocket, _ location: HTTPLocation) throws(ServiceError) -> Head {
        var head = Head()
        var total = 0
        var first = true
        while true {
            guard let line = try socket.readLine(what: location.description) else {
                throw ServiceError(.io, "\(location.description): the server closed the connection")
            }
            total += line.count + 2
            guard total <= maxHeaderBytes else {
                throw ServiceError(.io, "\(location.description): response headers above \(maxHeaderBytes) bytes")
            }
            if first {
                // HTTP/1.1 200 OK
                let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
                guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)),
                      let status = Int(String(decoding: parts[1], as: UTF8.self)) else {
                    throw ServiceError(.io, "\(location.description): not an HTTP response")
                }
                head.status = status
                head.reason = parts.count > 2 ? String(decoding: parts[2], as: UTF8.self) : ""
                first = false
                continue
            }
            if line.isEmpty { return head }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = line[..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            let value = Array(line[(colon + 1)...].drop { $0 == 32 || $0 == 9 })
            switch name {
            case Array("content-length".utf8):
                guard value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int64(String(decoding: value, as: UTF8.self))
                else {
                    throw ServiceError(.io, "\(location.description): bad Content-Length")
                }
                head.length = length
            case Array("transfer-encoding".utf8):
                // "chunked" is always the last coding applied.
                let lower = value.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }.reversed().drop { $0 == 32 || $0 == 9 }
                head.chunked = lower.starts(with: Array("chunked".utf8).reversed())
            case Array("location".utf8):
                head.location = value
            default:
                break
            }
        }
    }

    /// Body bytes into `buffer`; 0 at its end. A body cut short is an error.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ServiceError) -> Int {
        let what = location.description
        while true {
            switch framing {
            case .done:
                return 0
            case .untilClose:
                let got = try socket.read(into: buffer, what: what)
                received += Int64(got)
                return got
            case .length(let remaining):
                if remaining == 0 {
                    framing = .done
                    continue
                }
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
                let got = try socket.read(into: slice, what: what)
                guard got > 0 else {
                    throw ServiceError(.io, "\(what): the connection closed after \(received) of \(received + remaining) bytes")
                }
                received += Int64(got)
                framing = .length(remaining: remaining - Int64(got))
                return got
            case .chunked(let remaining, let started):
                if remaining == 0 {
                    let size = try nextChunkSize(afterChunk: started)
                    if size == 0 {
                        framing = .done
                        try skipTrailers()
                    } else {
                        framing = .chunked(remaining: size, started: true)
                    }
                    continue
                }
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
                let got = try socket.read(into: slice, what: what)
                guard got > 0 else { throw ServiceError(.io, "\(what): the connection closed inside a chunk") }
                received += Int64(got)
                framing = .chunked(remaining: remaining - Int64(got), started: true)
                return got
            }
        }
    }

    /// The size line of the next chunk (after the CRLF that ends the previous one).
    private mutating func nextChunkSize(afterChunk: Bool) throws(ServiceError) -> Int64 {
        let what = location.description
        if afterChunk {
            guard let end = try socket.readLine(what: what), end.isEmpty else {
                throw ServiceError(.io, "\(what): bad chunked encoding")
            }
        }
        guard let line = try socket.readLine(what: what) else {
            throw ServiceError(.io, "\(what): the connection closed before the last chunk")
        }
        let digits = line.prefix { $0 != UInt8(ascii: ";") && $0 != 32 }
        // Hex digits only: Int64(_:radix:) would also take a sign, and a negative size
        // would be a negative read (found by fuzz-http).
        let isHex = digits.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
        guard !digits.isEmpty, digits.count <= 15, isHex, let size = Int64(String(decoding: digits, as: UTF8.self), radix: 16) else {
            throw ServiceError(.io, "\(what): bad chunk size")
        }
        return size
    }

    private mutating func skipTrailers() throws(ServiceError) {
        while let line = try socket.readLine(what: location.description), !line.isEmpty {}
    }

    func close() { socket.close() }
}

/// A socket read through a buffer, with waits that give up after `idleTimeoutMs`
/// without progress, or as soon as the cancel flag is raised.
struct BufferedSocket {
    static let idleTimeoutMs = 30_000
    static let bufferSize = 64 << 10

    let fd: FileDescriptor
    let cancel: CancelFlag
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(_ fd: FileDescriptor, cancel: CancelFlag) {
        self.fd = fd
        self.cancel = cancel
        buffer = .allocate(byteCount: BufferedSocket.bufferSize, alignment: 8)
    }

    func close() {
        fd.close()
        buffer.deallocate()
    }

    /// Waits until the socket can be read (or written).
    private func wait(writable: Bool, what: String) throws(ServiceError) {
        var waited = 0
        while true {
            if let reason = cancel.reason { throw ServiceError(.timeout, "install cancelled: \(reason)") }
            let ready = csys_wait_ready(fd.rawValue, writable ? 1 : 0, 250)
            if ready > 0 { return }
            if ready < 0 { throw .io(what, .current) }
            waited += 250
            if waited >= BufferedSocket.idleTimeoutMs {
                throw ServiceError(.timeout, "\(what): no data for \(BufferedSocket.idleTimeoutMs / 1000) s")
            }
        }
    }

    /// Bytes from the socket; 0 when the server has closed.
    private func receive(into target: UnsafeMutableRawBufferPointer, what: String) throws(ServiceError) -> Int {
        while true {
            do throws(Errno) {
                return try fd.read(into: target)
            } catch where error == .wouldBlock {
                try wait(writable: false, what: what)
            } catch {
                throw .io(what, error)
            }
        }
    }

    func writeAll(_ bytes: [UInt8], what: String) throws(ServiceError) {
        var sent = 0
        while sent < bytes.count {
            let from = sent
            do throws(Errno) {
                sent += try bytes.withUnsafeBufferPointer { (all) throws(Errno) in
                    try fd.write(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(all)[from...]))
                }
            } catch where error == .wouldBlock {
                try wait(writable: true, what: what)
            } catch {
                throw .io(what, error)
            }
        }
    }

    /// One line without its CRLF (or LF); nil when the server closed before any byte.
    mutating func readLine(what: String) throws(ServiceError) -> [UInt8]? {
        var line: [UInt8] = []
        while true {
            if start == end {
                start = 0
                end = 0
                end = try receive(into: buffer, what: what)
                if end == 0 { return line.isEmpty ? nil : line }
            }
            while start < end {
                let byte = buffer[start]
                start += 1
                if byte == UInt8(ascii: "\n") {
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    return line
                }
                line.append(byte)
                if line.count > HTTPDownload.maxHeaderBytes {
                    throw ServiceError(.io, "\(what): a header line above \(HTTPDownload.maxHeaderBytes) bytes")
                }
            }
        }
    }

    /// Buffered bytes first, then straight from the socket; 0 when the server has closed.
    mutating func read(into target: UnsafeMutableRawBufferPointer, what: String) throws(ServiceError) -> Int {
        guard start == end else {
            let count = min(target.count, end - start)
            target.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count)
            start += count
            return count
        }
        return try receive(into: target, what: what)
    }
}
