import DbgClient
import DbgWire
import Glibc

/// What `dbg flash` sends, piece by piece: the compressed file as a stream, the mapped
/// ranges of a block map with a check after each, or the whole image (without its blocks
/// of zeros when the device was zeroed). It hashes what it hands out, as the board does.
struct FlashPlan {
    enum Mode: String {
        case stream, bmap, raw
    }

    let mode: Mode
    /// The decoded image's size (0 when it cannot be told).
    let imageSize: UInt64
    /// Image bytes the board will take: what the progress line counts to.
    let total: UInt64
    /// SHA-256 of the decoded image, for a stream (from a first pass here).
    let streamDigest: [UInt8]?
    var chunk = 512 << 10
    private let file: FlashImage
    private let map: BlockMap?
    private let skipZeros: Bool

    init(_ file: FlashImage, map: BlockMap?, stream: Bool, skipZeros: Bool) throws(LocalFailure) {
        self.file = file
        self.map = map
        self.skipZeros = skipZeros
        if let map {
            mode = .bmap
            imageSize = map.imageSize
            total = map.mappedBytes
            streamDigest = nil
        } else if file.format == .raw {
            mode = .raw
            imageSize = file.fileSize
            total = imageSize
            streamDigest = nil
        } else {
            // The board needs the decoded size up front, to refuse a device that is too
            // small before writing anything: decoding here once is quicker than a flash.
            let (size, digest) = try FlashPlan.measure(file)
            mode = stream ? .stream : .raw
            imageSize = size
            total = size
            streamDigest = digest
        }
    }

    /// Chunks are whole 4 KiB blocks (O_DIRECT on the board) within the agent's frame.
    static func chunkSize(agentMaxFrame: UInt32) -> Int {
        guard agentMaxFrame > 0 else { return 512 << 10 }
        return max(4096, min(512 << 10, (Int(agentMaxFrame) - 256) / 4096 * 4096))
    }

    private static func measure(_ file: FlashImage) throws(LocalFailure) -> (UInt64, [UInt8]) {
        let reader = try file.decoded()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var size: UInt64 = 0
        while true {
            let got = try reader.read(into: buffer)
            if got == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            size += UInt64(got)
        }
        return (size, hasher.finish())
    }

    /// A source of pieces for `RemoteFlash.send`.
    func pieces() throws(LocalFailure) -> FlashPieces {
        try FlashPieces(plan: self, reader: mode == .stream ? file.file() : file.decoded(), map: map,
                        skipZeros: skipZeros && mode == .raw)
    }
}

/// The pieces of a plan, in order, from one buffer.
final class FlashPieces {
    private let reader: ImageReader
    private let buffer: UnsafeMutableRawBufferPointer
    private let stream: Bool
    private let map: BlockMap?
    private let skipZeros: Bool
    /// Raw images only: a block map's checks cover what is sent, a stream was hashed by
    /// its first pass.
    private var hasher: SHA256?
    /// The chunk in the buffer: its image offset, length, and how far it was handed out.
    private var chunkOffset: UInt64 = 0
    private var chunkLength = 0
    private var cursor = 0
    /// bmap: the range being sent, and the check still due for it.
    private var rangeIndex = 0
    private var rangeEnd: UInt64 = 0
    private var checkDue: RemoteFlash.Piece?
    /// Bytes of the file read so far (compressed, for a stream): what goes on the wire.
    private(set) var sent: UInt64 = 0

    init(plan: FlashPlan, reader: ImageReader, map: BlockMap?, skipZeros: Bool) {
        self.reader = reader
        buffer = .allocate(byteCount: plan.chunk, alignment: 4096)
        stream = plan.mode == .stream
        self.map = map
        self.skipZeros = skipZeros
        if plan.mode == .raw { hasher = SHA256() }
    }

    deinit { buffer.deallocate() }

    /// SHA-256 of every byte handed out, for a raw image (nil otherwise).
    func digest() -> [UInt8]? { hasher.take()?.finish() }

    func next() throws(LocalFailure) -> RemoteFlash.Piece? {
        while true {
            if cursor < chunkLength, let piece = nextRun() { return piece }
            if let check = checkDue, reader.position >= rangeEnd {
                checkDue = nil
                return check
            }
            guard try fill() else { return nil }
        }
    }

    /// The next run of the chunk to send (without its blocks of zeros when skipping).
    private func nextRun() -> RemoteFlash.Piece? {
        let block = 4096
        var start = cursor
        if skipZeros {
            while start < chunkLength && isZero(start, min(start + block, chunkLength)) { start += block }
        }
        var end = chunkLength
        if skipZeros {
            end = start
            while end < chunkLength && !isZero(end, min(end + block, chunkLength)) { end = min(end + block, chunkLength) }
        }
        cursor = end
        guard end > start else { return nil }
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
        hasher?.update(bytes)
        return .data(offset: chunkOffset + UInt64(start), bytes)
    }

    private func isZero(_ from: Int, _ to: Int) -> Bool {
        let base = buffer.baseAddress! + from
        return base.load(as: UInt8.self) == 0 && (to - from < 2 || memcmp(base, base + 1, to - from - 1) == 0)
    }

    /// Reads the next chunk; false at the end.
    private func fill() throws(LocalFailure) -> Bool {
        (chunkLength, cursor) = (0, 0)
        var want = buffer.count
        if let map {
            if reader.position >= rangeEnd {
                guard rangeIndex < map.ranges.count else { return false }
                let range = map.ranges[rangeIndex]
                let (offset, length) = map.bytes(of: range)
                try reader.skip(to: offset, scratch: buffer)
                rangeEnd = offset + length
                if map.checksumType == "sha256" && !range.checksum.isEmpty {
                    checkDue = .check(offset: offset, length: length, expected: FlashPieces.bytes(hex: range.checksum),
                                      label: "blocks \(range.first)-\(range.last)")
                }
                rangeIndex += 1
            }
            want = Int(min(UInt64(want), rangeEnd - reader.position))
        }
        chunkOffset = reader.position
        chunkLength = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        if map != nil && chunkLength < want { throw LocalFailure("the image ends at \(reader.position), inside a mapped range") }
        sent += UInt64(chunkLength)
        return chunkLength > 0
    }

    private static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        func value(_ c: UInt8) -> UInt8 { c >= 97 ? c - 87 : c >= 65 ? c - 55 : c - 48 }
        return stride(from: 0, to: digits.count - 1, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
    }
}
