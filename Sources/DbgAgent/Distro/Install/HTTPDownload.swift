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

    static func open(_ start: HTTPLocation, cancel: CancelFlag) -> Result<HTTPDownload, ServiceError> {
        var location = start
        for _ in 0...maxRedirects {
            switch request(location, cancel: cancel) {
            case .failure(let failure):
                return .failure(failure)
            case .success(.body(let download)):
                return .success(download)
            case .success(.redirect(let next)):
                switch location.resolve(next) {
                case .success(.http(let target)): location = target
                case .success(.file): return .failure(ServiceError(.io, "\(location.description): redirected to a file"))
                case .failure(let failure): return .failure(failure)
                }
            }
        }
        return .failure(ServiceError(.io, "\(start.description): more than \(maxRedirects) redirects"))
    }

    enum Response {
        case body(HTTPDownload)
        case redirect([UInt8])
    }

    private static func request(_ location: HTTPLocation, cancel: CancelFlag) -> Result<Response, ServiceError> {
        let host = String(decoding: location.host, as: UTF8.self)
        let fd: Int32
        do throws(TCPConnection.Failure) {
            fd = try TCPConnection.connect(host: host, port: location.port, timeoutMs: connectTimeoutMs)
        } catch {
            switch error {
            case .resolve(let reason):
                return .failure(ServiceError(.io, location.description + ": cannot resolve " + host + ": " + reason))
            case .connect(let failure):
                return .failure(.io(location.description + ": cannot connect", Errno(failure.code)))
            }
        }
        let socket = BufferedSocket(FileDescriptor(fd), cancel: cancel)
        let hostHeader = location.host.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        let head = "GET " + String(decoding: location.target, as: UTF8.self) + " HTTP/1.1\r\nHost: \(hostHeader)"
            + (location.port == 80 ? "" : ":\(location.port)")
            + "\r\nUser-Agent: dbgd/\(Release.number)\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n"
        if let failure = socket.writeAll(Array(head.utf8), what: location.description) {
            socket.close()
            return .failure(failure)
        }
        return response(on: socket, location)
    }

    /// The server's answer on `socket` (which it then owns): a body to read, or where
    /// a redirect points.
    static func response(on socket: BufferedSocket, _ location: HTTPLocation) -> Result<Response, ServiceError> {
        var socket = socket
        switch readHead(&socket, location) {
        case .failure(let failure):
            socket.close()
            return .failure(failure)
        case .success(let head):
            if [301, 302, 303, 307, 308].contains(head.status) {
                socket.close()
                guard let target = head.location else {
                    return .failure(ServiceError(.io, "\(location.description): HTTP \(head.status) without a Location"))
                }
                return .success(.redirect(target))
            }
            guard head.status == 200 else {
                socket.close()
                let code: ErrorCode = head.status == 404 ? .notFound : .io
                return .failure(ServiceError(code, "\(location.description): HTTP \(head.status) \(head.reason)"))
            }
            let framing: Framing = head.chunked ? .chunked(remaining: 0, started: false)
                : head.length.map { .length(remaining: $0) } ?? .untilClose
            return .success(.body(HTTPDownload(socket: socket, framing: framing, location: location)))
        }
    }

    private struct Head {
        var status = 0
        var reason = ""
        var length: Int64?
        var chunked = false
        var location: [UInt8]?
    }

    private static func readHead(_ socket: inout BufferedSocket, _ location: HTTPLocation) -> Result<Head, ServiceError> {
        var head = Head()
        var total = 0
        var first = true
        while true {
            let line: [UInt8]
            switch socket.readLine(what: location.description) {
            case .failure(let failure): return .failure(failure)
            case .success(nil): return .failure(ServiceError(.io, "\(location.description): the server closed the connection"))
            case .success(let read?): line = read
            }
            total += line.count + 2
            guard total <= maxHeaderBytes else {
                return .failure(ServiceError(.io, "\(location.description): response headers above \(maxHeaderBytes) bytes"))
            }
            if first {
                // HTTP/1.1 200 OK
                let parts = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
                guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)),
                      let status = Int(String(decoding: parts[1], as: UTF8.self)) else {
                    return .failure(ServiceError(.io, "\(location.description): not an HTTP response"))
                }
                head.status = status
                head.reason = parts.count > 2 ? String(decoding: parts[2], as: UTF8.self) : ""
                first = false
                continue
            }
            if line.isEmpty { return .success(head) }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = line[..<colon].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            let value = Array(line[(colon + 1)...].drop { $0 == 32 || $0 == 9 })
            switch name {
            case Array("content-length".utf8):
                guard value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int64(String(decoding: value, as: UTF8.self))
                else {
                    return .failure(ServiceError(.io, "\(location.description): bad Content-Length"))
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
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, ServiceError> {
        let what = location.description
        while true {
            switch framing {
            case .done:
                return .success(0)
            case .untilClose:
                return socket.read(into: buffer, what: what).map { got in
                    received += Int64(got)
                    return got
                }
            case .length(let remaining):
                if remaining == 0 {
                    framing = .done
                    continue
                }
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
                switch socket.read(into: slice, what: what) {
                case .failure(let failure): return .failure(failure)
                case .success(0):
                    return .failure(ServiceError(.io, "\(what): the connection closed after \(received) of "
                        + "\(received + remaining) bytes"))
                case .success(let got):
                    received += Int64(got)
                    framing = .length(remaining: remaining - Int64(got))
                    return .success(got)
                }
            case .chunked(let remaining, let started):
                if remaining == 0 {
                    switch nextChunkSize(afterChunk: started) {
                    case .failure(let failure): return .failure(failure)
                    case .success(0):
                        framing = .done
                        if let failure = skipTrailers() { return .failure(failure) }
                        continue
                    case .success(let size):
                        framing = .chunked(remaining: size, started: true)
                        continue
                    }
                }
                let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
                switch socket.read(into: slice, what: what) {
                case .failure(let failure): return .failure(failure)
                case .success(0): return .failure(ServiceError(.io, "\(what): the connection closed inside a chunk"))
                case .success(let got):
                    received += Int64(got)
                    framing = .chunked(remaining: remaining - Int64(got), started: true)
                    return .success(got)
                }
            }
        }
    }

    /// The size line of the next chunk (after the CRLF that ends the previous one).
    private mutating func nextChunkSize(afterChunk: Bool) -> Result<Int64, ServiceError> {
        let what = location.description
        if afterChunk {
            guard case .success(let end?) = socket.readLine(what: what), end.isEmpty else {
                return .failure(ServiceError(.io, "\(what): bad chunked encoding"))
            }
        }
        guard case .success(let line?) = socket.readLine(what: what) else {
            return .failure(ServiceError(.io, "\(what): the connection closed before the last chunk"))
        }
        let digits = line.prefix { $0 != UInt8(ascii: ";") && $0 != 32 }
        // Hex digits only: Int64(_:radix:) would also take a sign, and a negative size
        // would be a negative read (found by fuzz-http).
        let isHex = digits.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }
        guard !digits.isEmpty, digits.count <= 15, isHex, let size = Int64(String(decoding: digits, as: UTF8.self), radix: 16) else {
            return .failure(ServiceError(.io, "\(what): bad chunk size"))
        }
        return .success(size)
    }

    private mutating func skipTrailers() -> ServiceError? {
        while true {
            switch socket.readLine(what: location.description) {
            case .failure(let failure): return failure
            case .success(nil): return nil
            case .success(let line?): if line.isEmpty { return nil }
            }
        }
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
    private func wait(writable: Bool, what: String) -> ServiceError? {
        var waited = 0
        while true {
            if let reason = cancel.reason { return ServiceError(.timeout, "install cancelled: \(reason)") }
            let ready = csys_wait_ready(fd.rawValue, writable ? 1 : 0, 250)
            if ready > 0 { return nil }
            if ready < 0 { return .io(what, .current) }
            waited += 250
            if waited >= BufferedSocket.idleTimeoutMs {
                return ServiceError(.timeout, "\(what): no data for \(BufferedSocket.idleTimeoutMs / 1000) s")
            }
        }
    }

    /// Bytes from the socket; 0 when the server has closed.
    private func receive(into target: UnsafeMutableRawBufferPointer, what: String) -> Result<Int, ServiceError> {
        while true {
            do throws(Errno) {
                return .success(try fd.read(into: target))
            } catch {
                guard error == .wouldBlock else { return .failure(.io(what, error)) }
            }
            if let failure = wait(writable: false, what: what) { return .failure(failure) }
        }
    }

    func writeAll(_ bytes: [UInt8], what: String) -> ServiceError? {
        var sent = 0
        while sent < bytes.count {
            let from = sent
            let written = bytes.withUnsafeBytes { all -> Result<Int, Errno> in
                do throws(Errno) {
                    return .success(try fd.write(UnsafeRawBufferPointer(rebasing: all[from...])))
                } catch {
                    return .failure(error)
                }
            }
            switch written {
            case .success(let count):
                sent += count
            case .failure(let error):
                guard error == .wouldBlock else { return .io(what, error) }
                if let failure = wait(writable: true, what: what) { return failure }
            }
        }
        return nil
    }

    /// One line without its CRLF (or LF); nil when the server closed before any byte.
    mutating func readLine(what: String) -> Result<[UInt8]?, ServiceError> {
        var line: [UInt8] = []
        while true {
            if start == end {
                start = 0
                end = 0
                switch receive(into: buffer, what: what) {
                case .failure(let failure): return .failure(failure)
                case .success(0): return .success(line.isEmpty ? nil : line)
                case .success(let got): end = got
                }
            }
            while start < end {
                let byte = buffer[start]
                start += 1
                if byte == UInt8(ascii: "\n") {
                    if line.last == UInt8(ascii: "\r") { line.removeLast() }
                    return .success(line)
                }
                line.append(byte)
                if line.count > HTTPDownload.maxHeaderBytes {
                    return .failure(ServiceError(.io, "\(what): a header line above \(HTTPDownload.maxHeaderBytes) bytes"))
                }
            }
        }
    }

    /// Buffered bytes first, then straight from the socket; 0 when the server has closed.
    mutating func read(into target: UnsafeMutableRawBufferPointer, what: String) -> Result<Int, ServiceError> {
        guard start == end else {
            let count = min(target.count, end - start)
            target.baseAddress!.copyMemory(from: buffer.baseAddress! + start, byteCount: count)
            start += count
            return .success(count)
        }
        return receive(into: target, what: what)
    }
}
