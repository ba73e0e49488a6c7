import DbgWire
import Glibc

/// Bytes read from a socket, taken out as whole frames.
struct FrameBuffer {
    private var bytes = [UInt8](repeating: 0, count: 256 << 10)
    private var start = 0
    private var end = 0

    /// Reads what the socket has (it is non-blocking, or poll said it is readable);
    /// false at its end.
    mutating func read(_ fd: Int32, what: String) throws(ClientError) -> Bool {
        if end == bytes.count {
            bytes.append(contentsOf: [UInt8](repeating: 0, count: bytes.count))
        }
        let limit = end
        let count = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + limit, $0.count - limit, Int32(MSG_DONTWAIT)) }
        if count > 0 {
            end += count
            return true
        }
        if count == 0 { return false }
        if errno == EAGAIN || errno == EINTR { return true }
        throw .io("receiving from \(what): \(describe(errno))")
    }

    /// The next whole frame, header included; nil until one is complete.
    mutating func next(maxPayload: UInt32, from what: String) throws(ClientError) -> [UInt8]? {
        guard end - start >= FrameHeader.size else { return nil }
        let first = start
        let header = bytes.withUnsafeBytes { FrameHeader(parsing: UnsafeRawBufferPointer(rebasing: $0[first..<first + FrameHeader.size])) }
        if let violation = header.violation(maxPayload: maxPayload) { throw .malformed("\(what) sent \(violation.message)") }
        let total = FrameHeader.size + Int(header.length)
        guard end - start >= total else { return nil }
        defer { start += total }
        return Array(bytes[start..<start + total])
    }

    /// Moves what is left to the front (after the frames were taken).
    mutating func compact() {
        guard start > 0 else { return }
        let left = end - start
        if left > 0 {
            let from = start
            bytes.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: $0.baseAddress! + from, byteCount: left) }
        }
        start = 0
        end = left
        if bytes.count > 256 << 10 && left < 64 << 10 { bytes = Array(bytes[0..<max(256 << 10, left)]) }
    }

    /// Writes a frame's request id (header offset 12).
    static func setID(_ id: UInt32, in frame: inout [UInt8]) {
        withUnsafeBytes(of: id.littleEndian) { source in
            for index in 0..<4 { frame[12 + index] = source[index] }
        }
    }
}

/// Bytes waiting to be written to a non-blocking peer, written as it takes them.
struct SendQueue {
    private var bytes: [UInt8] = []
    private var written = 0

    var queued: Int { bytes.count - written }

    mutating func append(_ frame: [UInt8]) { bytes += frame }

    /// Writes what the socket takes now; false when the peer is gone.
    mutating func flush(_ fd: Int32) -> Bool {
        while written < bytes.count {
            let from = written
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + from, $0.count - from, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if count < 0 {
                if errno == EINTR { continue }
                return errno == EAGAIN
            }
            written += count
        }
        bytes.removeAll(keepingCapacity: bytes.count <= 1 << 20)
        written = 0
        return true
    }
}

/// A frame of `message`, encoded; nil if it does not fit in 1 MiB (the master's own all do).
func encodedFrame<M: WireCodable>(_ header: FrameHeader, _ message: M) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    let size = buffer.withUnsafeMutableBytes { raw in try? header.encodeFrame(message, into: raw) }
    return size.map { Array(buffer[0..<$0]) }
}

/// One dbg process connected to the master: its socket, id prefix, what it sent that is
/// not a whole frame yet, and what waits to be written to it.
final class MasterClient {
    let fd: Int32
    let prefix: UInt32
    var input = FrameBuffer()
    private var output = SendQueue()

    init(fd: Int32, prefix: UInt32) {
        self.fd = fd
        self.prefix = prefix
    }

    var queued: Int { output.queued }

    func enqueue(_ frame: [UInt8]) {
        output.append(frame)
        _ = flush()
    }

    /// Writes what it can without waiting; false when the client is gone.
    func flush() -> Bool { output.flush(fd) }

    /// Answers a request with an error, without the agent.
    func refuse(_ request: FrameHeader, _ message: String) {
        let error = ErrorPayload(code: .unsupported, message: WireBytes(message))
        if let frame = encodedFrame(FrameHeader(kind: .error, service: request.service, op: request.op, id: request.id), error) {
            enqueue(frame)
        }
    }
}
