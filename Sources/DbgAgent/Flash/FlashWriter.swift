import CDecompress
import CSys
import DbgWire

/// The device side of one flash, used by the flash thread alone, one job after another:
/// raw chunks written at their offsets, or a compressed stream decoded into an aligned
/// staging buffer and written from offset 0; the SHA-256 of every image byte taken; the
/// ranges written, to read back at the end. Sector-aligned writes from aligned buffers
/// go through O_DIRECT (no page cache to fill on a small board, and a read-back that
/// reads the device, not the cache); the rest through the buffered descriptor.
final class FlashWriter: @unchecked Sendable {
    /// Ranges kept for the read-back; a flash that writes more separate ones is refused.
    static let maxRanges = 1 << 16
    /// BLKZEROOUT per job: a progress event between two.
    static let zeroBatch: UInt64 = 256 << 20
    /// Bytes written back or read back per job: a progress event between two.
    static let batch: UInt64 = 64 << 20
    /// The decoders' windows, as for distro archives (xz -9 needs 64 MiB).
    static let decoderMemoryLimit: UInt64 = 80 << 20

    /// What FlashOpen asked for.
    struct Settings {
        let device: String
        let imageSize: UInt64
        let stream: Bool
        let discard: Bool
        let force: Bool
        let hashing: Bool
    }

    let settings: Settings
    /// Opened by `open`, the first job: checking and opening a device may wait on it.
    private(set) var target: FlashTarget!
    var stream: Bool { settings.stream }
    /// The device reads zeros where the image has them (Discard zeroed it): zero blocks
    /// of a stream are skipped.
    var skipZeros: Bool { settings.discard && settings.stream }
    /// Where the image must end: its size when told, else the device's.
    private(set) var limit: UInt64 = 0
    /// The extent Discard zeroes.
    private(set) var zeroExtent: UInt64 = 0
    private let staging: UnsafeMutableRawBufferPointer
    private let readBuffer: UnsafeMutableRawBufferPointer

    private var decoder: OpaquePointer?
    private var decoderStatus = Int32(CSYS_DECODE_OK)
    private var staged = 0
    /// Image bytes taken (decoded, for a stream), zero blocks skipped included.
    private(set) var taken: UInt64 = 0
    /// Bytes written to the device.
    private(set) var written: UInt64 = 0
    /// Of every image byte taken, when asked for.
    private var digest: SHA256?
    /// The bytes written since the last check, contiguous from `segmentStart`: a check
    /// of exactly that range needs no read-back. Kept for raw writes without `digest`
    /// (a block map's ranges), so that no byte is hashed twice.
    private var segment: SHA256?
    private var segmentStart: UInt64 = 0
    private var segmentEnd: UInt64 = 0
    private(set) var ranges: [(start: UInt64, end: UInt64)] = []
    private var bufferedDirty = false
    /// The first failure: the device's state is unknown after it, so every later write
    /// gets it too.
    private(set) var failure: ServiceError?
    /// The write-back of what went through the page cache so far.
    private var flushRange = 0
    private var flushOffset: UInt64 = 0
    private(set) var flushDone: UInt64 = 0
    /// The read-back so far: the range it is in, the offset it reached, and its hash.
    private var readBackRange = 0
    private var readBackOffset: UInt64 = 0
    private(set) var readBackDone: UInt64 = 0
    private var readBackDigest: SHA256? = SHA256()

    init(_ settings: Settings, staging: UnsafeMutableRawBufferPointer, readBuffer: UnsafeMutableRawBufferPointer) {
        self.settings = settings
        if settings.hashing { digest = SHA256() } else if !settings.stream { segment = SHA256() }
        self.staging = staging
        self.readBuffer = readBuffer
    }

    var totalRangeBytes: UInt64 { ranges.reduce(0) { $0 + ($1.end - $1.start) } }

    // MARK: Steps (each one job on the flash thread)

    /// Checks and opens the device.
    func open() throws(ServiceError) {
        let target = try FlashTarget.open(settings.device, imageSize: settings.imageSize, force: settings.force)
        self.target = target
        limit = settings.imageSize > 0 ? settings.imageSize : target.size
        let sector = UInt64(target.sectorSize)
        zeroExtent = min(target.size, (limit + sector - 1) / sector * sector)
    }

    /// Discards the device (where it can) and zeroes one batch of the image's extent
    /// from `start`; returns where the next batch starts (`zeroExtent` at the end).
    func zeroOut(from start: UInt64) throws(ServiceError) -> UInt64 {
        let fd = target.buffered.rawValue
        if start == 0 { _ = csys_block_discard(fd, 0, target.size) }  // a trim: best effort
        let end = min(start + FlashWriter.zeroBatch, zeroExtent)
        guard csys_block_zero_out(fd, start, end - start) == 0 else {
            throw fail(.io("\(target.path): cannot zero bytes \(start) to \(end)", .current))
        }
        return end
    }

    /// A raw chunk at its device offset (the loop checked it is within the image and
    /// does not go back).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(ServiceError) {
        if let failure { throw failure }
        take(bytes, at: offset)
        try writeDevice(bytes, at: offset)
        try record(offset, UInt64(bytes.count))
        taken = offset + UInt64(bytes.count)
    }

    /// The next piece of a compressed stream.
    func feed(_ bytes: UnsafeRawBufferPointer) throws(ServiceError) {
        if let failure { throw failure }
        if decoder == nil {
            let format = csys_decoder_detect(bytes.baseAddress, bytes.count)
            guard format != CSYS_FORMAT_PLAIN, bytes.count >= 6 else {
                throw fail(ServiceError(.badRequest, "the stream is not gzip, xz or zstd (a raw image is sent at offsets)"))
            }
            if let missing = csys_decoder_missing(format) { throw fail(ServiceError(.unsupported, String(cString: missing))) }
            decoder = csys_decoder_new(format, FlashWriter.decoderMemoryLimit)
            if decoder == nil { throw fail(ServiceError(.io, "cannot start the decoder (out of memory)")) }
        }
        try decode(bytes, finish: false)
    }

    /// The stream is complete: what the decoder holds is written, and a stream that
    /// stops inside a frame is an error.
    func endStream() throws(ServiceError) {
        if let failure { throw failure }
        guard decoder != nil else { throw fail(ServiceError(.badRequest, "the stream is empty")) }
        try decode(UnsafeRawBufferPointer(start: nil, count: 0), finish: true)
        guard decoderStatus != CSYS_DECODE_OK else {
            throw fail(ServiceError(.badRequest, "the compressed stream ends early (a cut image?)"))
        }
        try emitStaged()
    }

    /// SHA-256 of a device range after everything before it: of the bytes as written when
    /// they were exactly the writes since the last check (and `fromDevice` is false),
    /// else read back from the device.
    func verify(offset: UInt64, length: UInt64, fromDevice: Bool) throws(ServiceError) -> [UInt8] {
        if let failure { throw failure }
        defer {
            if digest == nil && !stream { segment = SHA256() }
            segmentStart = segmentEnd
        }
        if !fromDevice && segmentStart == offset && segmentEnd == offset + length, let written = segment.take() {
            return written.finish()
        }
        try syncBuffered()
        var hasher = SHA256()
        try read(from: offset, to: offset + length, into: &hasher)
        return hasher.finish()
    }

    /// Writes back one batch of what went through the page cache (sync_file_range over
    /// the ranges written, so that a long write-back reports progress); true when all is.
    func flushBatch() throws(ServiceError) -> Bool {
        if let failure { throw failure }
        guard bufferedDirty else { return true }
        var budget = FlashWriter.batch
        while flushRange < ranges.count && budget > 0 {
            let range = ranges[flushRange]
            let start = max(range.start, flushOffset)
            let end = min(range.end, start + budget)
            guard csys_sync_range(target.buffered.rawValue, start, end - start) == 0 else {
                throw fail(.io("\(target.path): writing back", .current))
            }
            budget -= end - start
            flushDone += end - start
            flushOffset = end
            if end == range.end { flushRange += 1 }
        }
        return flushRange == ranges.count
    }

    /// Everything on the device (fsync: the page cache and the device's own cache), and
    /// the device's cached pages dropped, so that reads come from the medium.
    func flush() throws(ServiceError) {
        if let failure { throw failure }
        guard fsync(target.buffered.rawValue) == 0 else { throw fail(.io("\(target.path): flush failed", .current)) }
        bufferedDirty = false
        _ = csys_block_flush(target.buffered.rawValue)
    }

    /// Reads back the next batch of the ranges written; true when all are done.
    func readBackBatch() throws(ServiceError) -> Bool {
        if let failure { throw failure }
        var budget = FlashWriter.batch
        while readBackRange < ranges.count && budget > 0 {
            let range = ranges[readBackRange]
            let start = max(range.start, readBackOffset)
            let end = min(range.end, start + budget)
            try read(from: start, to: end, into: &readBackDigest!)
            budget -= end - start
            readBackDone += end - start
            readBackOffset = end
            if end == range.end { readBackRange += 1 }
        }
        return readBackRange == ranges.count
    }

    /// The digests, once: of the image as taken, and of the read-back (nil if none ran).
    func digests() -> (image: [UInt8], readBack: [UInt8]?) {
        let image = digest.take()?.finish() ?? []
        let back = readBackRange == ranges.count && (readBackDone > 0 || ranges.isEmpty) ? readBackDigest.take()?.finish() : nil
        return (image, back)
    }

    func close() {
        if let decoder { csys_decoder_free(decoder) }
        decoder = nil
        target?.close()
    }

    // MARK: Pieces

    /// Image bytes into the digest and the current segment.
    private func take(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) {
        digest?.update(bytes)
        guard segment != nil else { return }
        if offset != segmentEnd {
            segment = SHA256()
            segmentStart = offset
        }
        segment!.update(bytes)
        segmentEnd = offset + UInt64(bytes.count)
    }

    private func fail(_ error: ServiceError) -> ServiceError {
        if failure == nil { failure = error }
        return error
    }

    private func decode(_ input: UnsafeRawBufferPointer, finish: Bool) throws(ServiceError) {
        var used = 0
        // At a frame's or member's end the decoder holds nothing: with no input, another
        // call would start a new one (and report it unfinished).
        if input.isEmpty && (decoderStatus == CSYS_DECODE_MEMBER_END || decoderStatus == CSYS_DECODE_END) { return }
        while true {
            if staged == staging.count { try emitStaged() }
            if decoderStatus == CSYS_DECODE_END && used < input.count {
                throw fail(ServiceError(.badRequest, "data after the end of the xz stream"))
            }
            var consumed = 0
            var produced = 0
            let room = staging.count - staged
            decoderStatus = csys_decoder_run(decoder, input.baseAddress.map { $0 + used }, input.count - used, &consumed,
                                             staging.baseAddress! + staged, room, &produced, finish ? 1 : 0)
            used += consumed
            staged += produced
            if decoderStatus == CSYS_DECODE_ERROR {
                throw fail(ServiceError(.badRequest, "the image stream: " + String(cString: csys_decoder_message(decoder))))
            }
            // Done when the input is used up and the decoder holds nothing more (it had
            // room to spare, or a frame ended), or when it moves no more.
            let frameEnded = decoderStatus == CSYS_DECODE_MEMBER_END || decoderStatus == CSYS_DECODE_END
            if used == input.count && (produced < room || frameEnded) || (consumed == 0 && produced == 0) {
                if staged == staging.count { try emitStaged() }
                return
            }
        }
    }

    /// The decoded bytes in the staging buffer, at the image's current end.
    private func emitStaged() throws(ServiceError) {
        guard staged > 0 else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: staging[0..<staged])
        guard taken + UInt64(staged) <= limit else {
            throw fail(ServiceError(.tooLarge, "the decoded image is larger than \(limit == target.size ? "\(target.path) (\(limit) bytes)" : "its stated size (\(limit) bytes)")"))
        }
        take(bytes, at: taken)
        if skipZeros {
            try writeSkippingZeros(bytes, at: taken)
        } else {
            try writeDevice(bytes, at: taken)
        }
        try record(taken, UInt64(staged))
        taken += UInt64(staged)
        staged = 0
    }

    /// Writes the runs of blocks that are not all zeros (the device reads zeros elsewhere).
    private func writeSkippingZeros(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(ServiceError) {
        let block = max(target.sectorSize, 4096)
        var runStart: Int?
        var index = 0
        while index < bytes.count {
            let end = min(index + block, bytes.count)
            let zero = FlashWriter.isZero(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
            if zero, let start = runStart {
                try writeDevice(UnsafeRawBufferPointer(rebasing: bytes[start..<index]), at: offset + UInt64(start))
                runStart = nil
            } else if !zero && runStart == nil {
                runStart = index
            }
            index = end
        }
        if let start = runStart { try writeDevice(UnsafeRawBufferPointer(rebasing: bytes[start...]), at: offset + UInt64(start)) }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        return base.load(as: UInt8.self) == 0 && memcmp(base, base + 1, bytes.count - 1) == 0
    }

    private func writeDevice(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(ServiceError) {
        let sector = target.sectorSize
        let aligned = Int(offset % UInt64(sector)) == 0 && bytes.count % sector == 0
            && Int(bitPattern: bytes.baseAddress) % 4096 == 0
        let fd: FileDescriptor
        if aligned, let direct = target.direct {
            fd = direct
        } else {
            fd = target.buffered
            bufferedDirty = true
        }
        var done = 0
        do throws(Errno) {
            try fd.writeAll(bytes, at: offset, written: &done)
        } catch {
            throw fail(.io("\(target.path): writing at offset \(offset + UInt64(done))", error))
        }
        written += UInt64(bytes.count)
    }

    private func record(_ start: UInt64, _ count: UInt64) throws(ServiceError) {
        if let last = ranges.last, last.end == start {
            ranges[ranges.count - 1].end = start + count
        } else {
            guard ranges.count < FlashWriter.maxRanges else {
                throw fail(ServiceError(.tooLarge, "more than \(FlashWriter.maxRanges) separate ranges written; merge the block map's ranges"))
            }
            ranges.append((start, start + count))
        }
    }

    /// Buffered writes reach the device before a read that bypasses the cache.
    private func syncBuffered() throws(ServiceError) {
        guard bufferedDirty, target.direct != nil else { return }
        guard fdatasync(target.buffered.rawValue) == 0 else { throw fail(.io("\(target.path): flush failed", .current)) }
        bufferedDirty = false
    }

    /// Hashes [start, end) of the device: through O_DIRECT in aligned blocks when it
    /// can, else buffered (after a flush that dropped the cache).
    private func read(from start: UInt64, to end: UInt64, into hasher: inout SHA256) throws(ServiceError) {
        let sector = UInt64(target.sectorSize)
        let fd = target.direct ?? target.buffered
        let step = UInt64(readBuffer.count) / sector * sector
        var position = target.direct == nil ? start : start / sector * sector
        while position < end {
            let want = target.direct == nil ? min(step, end - position)
                : min(step, (end - position + sector - 1) / sector * sector, target.size - position)
            let got: Int
            do throws(Errno) {
                got = try fd.read(into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[0..<Int(want)]), at: position)
            } catch {
                throw fail(.io("\(target.path): reading back at offset \(position)", error))
            }
            guard got > 0 else { throw fail(ServiceError(.io, "\(target.path) ends at \(position) while reading back")) }
            let from = Int(max(start, position) - position)
            let to = Int(min(end, position + UInt64(got)) - position)
            if to > from { hasher.update(UnsafeRawBufferPointer(rebasing: readBuffer[from..<to])) }
            position += UInt64(got)
        }
    }
}
