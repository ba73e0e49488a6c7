import DbgWire
import Glibc

/// File operations on the board for a logged-in session, with windowed transfers.
public struct RemoteFiles {
    public let connection: AgentConnection
    public let token: WireBytes
    /// Bytes per chunk request, and how many requests are in flight at once.
    public var chunk = 256 << 10
    public var window = 8

    public init(connection: AgentConnection, token: WireBytes) {
        self.connection = connection
        self.token = token
    }

    public func stat(_ path: String) throws(ClientError) -> Dbg.FileInfo {
        try call(.stat, Dbg.PathRequest(token: token, path: WireBytes(path)))
    }

    /// Every entry, page after page.
    public func list(_ path: String) throws(ClientError) -> [Dbg.DirEntry] {
        var entries: [Dbg.DirEntry] = []
        var cookie: UInt64 = 0
        while true {
            let page: Dbg.DirPage = try call(.listDir, Dbg.ListDirRequest(token: token, path: WireBytes(path), cookie: cookie))
            entries += page.entries
            if page.done { return entries }
            cookie = page.nextCookie
        }
    }

    public func makeDirectory(_ path: String, mode: UInt32 = 0, parents: Bool) throws(ClientError) {
        let _: Empty = try call(.mkdir, Dbg.MkdirRequest(token: token, path: WireBytes(path), mode: mode, parents: parents))
    }

    public func remove(_ path: String, recursive: Bool) throws(ClientError) {
        let _: Empty = try call(.remove, Dbg.RemoveRequest(token: token, path: WireBytes(path), recursive: recursive))
    }

    public func rename(_ from: String, to: String, replace: Bool) throws(ClientError) {
        let _: Empty = try call(.rename, Dbg.RenameRequest(token: token, from: WireBytes(from), to: WireBytes(to), replace: replace))
    }

    /// SHA-256 of `length` bytes from `offset` (0: to the end), computed on the board.
    /// Waits up to an hour: hashing gigabytes on a small board takes a while.
    public func hash(_ path: String, offset: UInt64 = 0, length: UInt64 = 0) throws(ClientError) -> (digest: [UInt8], length: UInt64) {
        let result: Dbg.HashResult = try connection.withAnswerTimeout(seconds: 3600) { () throws(ClientError) in
            try call(.hash, Dbg.HashRequest(token: token, path: WireBytes(path), offset: offset, length: length))
        }
        return (result.digest.bytes, result.length)
    }

    /// Reads the file from `offset` to its end with `window` requests in flight, handing
    /// each chunk to `sink` in order. Returns the bytes read.
    @discardableResult
    public func read(_ path: String, from offset: UInt64 = 0,
                     _ sink: (UnsafeRawBufferPointer) throws(ClientError) -> Void) throws(ClientError) -> UInt64 {
        try read(path, from: offset, hashing: false, sink).bytes
    }

    /// As `read`, while the board hashes the whole file (SHA-256, from offset 0) on a
    /// worker at the same time: the digest to check what arrived against, at little more
    /// than the cost of the read.
    public func readHashing(_ path: String, from offset: UInt64 = 0,
                            _ sink: (UnsafeRawBufferPointer) throws(ClientError) -> Void) throws(ClientError) -> (bytes: UInt64, digest: [UInt8]) {
        let result = try read(path, from: offset, hashing: true, sink)
        return (result.bytes, result.digest ?? [])
    }

    private func read(_ path: String, from offset: UInt64, hashing: Bool,
                      _ sink: (UnsafeRawBufferPointer) throws(ClientError) -> Void) throws(ClientError) -> (bytes: UInt64, digest: [UInt8]?) {
        var next = offset
        var total: UInt64 = 0
        var inFlight = InFlightIDs()
        var eof = false
        // The Hash goes first; its answer comes between chunks whenever the worker is done.
        var hashID: UInt32?
        var digest: [UInt8]?
        if hashing {
            let id = connection.makeID()
            try connection.send(service: ServiceID.dbg, op: Dbg.Op.hash.rawValue, id: id,
                                Dbg.HashRequest(token: token, path: WireBytes(path), offset: 0, length: 0))
            hashID = id
        }
        func takeHash(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) throws(ClientError) {
            try ReceivedFrame.throwIfError(header, payload)
            do throws(WireError) {
                digest = try Dbg.HashResult.decode(payload: payload).digest.bytes
            } catch {
                throw .malformed("HashResult: \(error.message)")
            }
        }
        var answered = true  // the last answer taken was whole: the connection is in step
        do throws(ClientError) {
            while !eof || !inFlight.isEmpty {
                while !eof && inFlight.count < window {
                    let id = connection.makeID()
                    try connection.send(service: ServiceID.dbg, op: Dbg.Op.readFile.rawValue, id: id,
                                        Dbg.ReadFileRequest(token: token, path: WireBytes(path), offset: next, size: UInt32(chunk)))
                    next += UInt64(chunk)
                    inFlight.sent(id)
                }
                // The agent answers ReadFile in request order (one spliced chunk at a time);
                // the data is used in place.
                answered = false
                let ended = try connection.receive { (header, payload) throws(ClientError) -> Bool in
                    if header.id == hashID {
                        answered = true
                        try takeHash(header, payload)
                        return false
                    }
                    try inFlight.answered(header)
                    answered = true
                    try ReceivedFrame.throwIfError(header, payload)
                    let chunk: Dbg.FileChunk
                    do throws(WireError) {
                        chunk = try Dbg.FileChunk.decode(payload: payload)
                    } catch {
                        throw .malformed("FileChunk: \(error.message)")
                    }
                    try chunk.data.withUnsafeBytes { (data) throws(ClientError) in try sink(data) }
                    total += UInt64(chunk.data.count)
                    return chunk.eof
                }
                if ended { eof = true }
            }
        } catch {
            // An answer that said no (a missing file answers every request so), or a sink
            // that failed: the rest of the window is read and dropped, so that the
            // connection's next call finds its own answers.
            if answered { drain(&inFlight, hashID: hashID) }
            throw error
        }
        if hashing && digest == nil {
            // Hashing gigabytes on a small board takes a while.
            try connection.withAnswerTimeout(seconds: 3600) { () throws(ClientError) in
                while digest == nil {
                    try connection.receive { (header, payload) throws(ClientError) in
                        guard header.id == hashID else { throw .malformed("an answer to request \(header.id) where the Hash was due") }
                        try takeHash(header, payload)
                    }
                }
            }
        }
        return (total, digest)
    }

    /// Writes everything `source` yields, from `offset`, with `window` requests in flight.
    /// `source` fills the buffer it is given and returns the count, 0 at the end.
    public func write(_ path: String, at offset: UInt64 = 0, truncate: Bool, mode: UInt32,
                      from source: (UnsafeMutableRawBufferPointer) throws(ClientError) -> Int,
                      progress: (UInt64) -> Void = { _ in }) throws(ClientError) {
        _ = try write(path, at: offset, truncate: truncate, mode: mode, hashingEvery: 0, from: source, progress: progress)
    }

    /// How much of a written file one Hash covers while a verified push goes on.
    public static let hashSegment = 8 << 20

    /// As `write`, while the board hashes what it has already written, `hashSegment` bytes
    /// at a time from `offset`, on its file workers: the SHA-256 of each segment, in order,
    /// to check against the same segments of what was sent. A verified push then costs
    /// little more than the push.
    public func writeHashing(_ path: String, at offset: UInt64 = 0, truncate: Bool, mode: UInt32,
                             from source: (UnsafeMutableRawBufferPointer) throws(ClientError) -> Int,
                             progress: (UInt64) -> Void = { _ in }) throws(ClientError) -> [[UInt8]] {
        try write(path, at: offset, truncate: truncate, mode: mode, hashingEvery: RemoteFiles.hashSegment, from: source,
                  progress: progress)
    }

    private func write(_ path: String, at offset: UInt64, truncate: Bool, mode: UInt32, hashingEvery segment: Int,
                       from source: (UnsafeMutableRawBufferPointer) throws(ClientError) -> Int,
                       progress: (UInt64) -> Void) throws(ClientError) -> [[UInt8]] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var position = offset
        var inFlight = InFlightIDs()
        var sizes: [Int] = []  // of the requests in flight, oldest first
        var hashes = SegmentHashes(path: path, token: token, start: offset, segment: UInt64(segment))
        var ended = false
        var first = truncate
        while !ended || !inFlight.isEmpty {
            while !ended && inFlight.count < window {
                let count = try source(buffer)
                if count == 0 && !first {
                    ended = true
                    break
                }
                let id = connection.makeID()
                try connection.send(service: ServiceID.dbg, op: Dbg.Op.writeFile.rawValue, id: id,
                                    Dbg.WriteFileRequest(token: token, path: WireBytes(path), offset: position,
                                                         data: WireBytes(viewing: UnsafeRawBufferPointer(rebasing: buffer[0..<count])),
                                                         truncate: first, mode: mode))
                first = false
                position += UInt64(count)
                inFlight.sent(id)
                sizes.append(count)
                if count == 0 { ended = true }
            }
            guard !inFlight.isEmpty else { break }
            try connection.receive { (header, payload) throws(ClientError) in
                if try hashes.take(header, payload) { return }
                try ReceivedFrame.throwIfError(header, payload)
                try inFlight.answered(header)
                hashes.written(UInt64(sizes.removeFirst()))
            }
            if segment > 0 { try hashes.send(on: connection, final: ended && inFlight.isEmpty) }
            progress(position - offset)
        }
        guard segment > 0 else { return [] }
        try hashes.send(on: connection, final: true)
        // The last segment's hash follows the last write; a small board takes a while.
        try connection.withAnswerTimeout(seconds: 3600) { () throws(ClientError) in
            while !hashes.complete {
                try connection.receive { (header, payload) throws(ClientError) in
                    guard try hashes.take(header, payload) else {
                        throw .malformed("an answer to request \(header.id) where a Hash was due")
                    }
                }
                try hashes.send(on: connection, final: true)
            }
        }
        return hashes.digests()
    }

    /// Reads the answers still in flight after a failure, in order, and drops them (a Hash
    /// answer among them too); stops at the first that cannot be read.
    private func drain(_ inFlight: inout InFlightIDs, hashID: UInt32?) {
        while !inFlight.isEmpty {
            let dropped: Void? = try? connection.receive { (header, _) throws(ClientError) in
                if header.id != hashID { try inFlight.answered(header) }
            }
            if dropped == nil { return }
        }
    }

    private func call<Request: WireCodable, Response: WireCodable>(_ op: Dbg.Op, _ request: Request) throws(ClientError) -> Response {
        try connection.call(service: ServiceID.dbg, op: op.rawValue, request)
    }
}

/// The ids of a window's requests, oldest first: each answer must be for the oldest.
struct InFlightIDs {
    private var ids: [UInt32] = []

    var count: Int { ids.count }
    var isEmpty: Bool { ids.isEmpty }

    mutating func sent(_ id: UInt32) { ids.append(id) }

    mutating func answered(_ header: FrameHeader) throws(ClientError) {
        guard let oldest = ids.first, header.id == oldest else {
            throw .malformed("answer to request \(header.id) where the answer to \(ids.first.map(String.init) ?? "none") was due")
        }
        ids.removeFirst()
    }
}

/// The Hash requests of a verified write: one per segment the board has acknowledged,
/// at most two at a time (the agent's file workers), answered in any order among the
/// write's answers.
struct SegmentHashes {
    let path: String
    let token: WireBytes
    let start: UInt64
    let segment: UInt64
    private var written: UInt64 = 0
    private var queued: UInt64 = 0
    private var waiting: [(offset: UInt64, length: UInt64)] = []
    private var asked: [UInt32: (index: Int, length: UInt64)] = [:]
    private var results: [[UInt8]?] = []

    init(path: String, token: WireBytes, start: UInt64, segment: UInt64) {
        self.path = path
        self.token = token
        self.start = start
        self.segment = segment
    }

    var complete: Bool { waiting.isEmpty && asked.isEmpty }

    mutating func written(_ count: UInt64) { written += count }

    /// Asks for the segments written whole (all that is left when `final`).
    mutating func send(on connection: AgentConnection, final: Bool) throws(ClientError) {
        while written - queued >= segment || (final && written > queued) {
            let length = min(segment, written - queued)
            waiting.append((start + queued, length))
            queued += length
        }
        while !waiting.isEmpty && asked.count < 2 {
            let next = waiting.removeFirst()
            let id = connection.makeID()
            try connection.send(service: ServiceID.dbg, op: Dbg.Op.hash.rawValue, id: id,
                                Dbg.HashRequest(token: token, path: WireBytes(path), offset: next.offset, length: next.length))
            asked[id] = (results.count, next.length)
            results.append(nil)
        }
    }

    /// Takes the frame if it answers one of the Hashes.
    mutating func take(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) throws(ClientError) -> Bool {
        guard let (index, length) = asked.removeValue(forKey: header.id) else { return false }
        try ReceivedFrame.throwIfError(header, payload)
        let result = try ReceivedFrame.decode(header, payload, as: Dbg.HashResult.self)
        guard result.length == length else {
            throw .malformed("the board hashed \(result.length) bytes of a \(length)-byte segment of \(path)")
        }
        results[index] = result.digest.bytes
        return true
    }

    func digests() -> [[UInt8]] { results.map { $0 ?? [] } }
}
