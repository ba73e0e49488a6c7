import CDecompress
import CSys
import DbgWire

/// The bytes of a tar archive: read from a file or an HTTP body, decompressed when they
/// start like gzip, xz or zstd (the name of the source does not matter).
struct ArchiveStream {
    enum Input {
        case file(FileDescriptor)
        case http(HTTPDownload)
    }

    /// The decoders' windows may not exceed this (xz -9 needs 64 MiB; zstd up to
    /// level 19 uses at most 8 MiB). Only one install runs at a time.
    static let decoderMemoryLimit: UInt64 = 80 << 20
    static let inputSize = 256 << 10

    private var input: Input
    private let what: String
    private var decoder: OpaquePointer?
    private var format = Int32(CSYS_FORMAT_PLAIN)
    private let buffer: UnsafeMutableRawBufferPointer
    private var head = 0
    private var end = 0
    private var inputEnded = false
    private var streamEnded = false
    /// Compressed bytes read so far.
    private(set) var consumed: Int64 = 0

    init(_ input: Input, what: String) {
        self.input = input
        self.what = what
        buffer = .allocate(byteCount: ArchiveStream.inputSize, alignment: 16)
    }

    func close() {
        switch input {
        case .file(let fd): fd.close()
        case .http(let download): download.close()
        }
        if let decoder { csys_decoder_free(decoder) }
        buffer.deallocate()
    }

    var formatName: String {
        switch Int(format) {
        case Int(CSYS_FORMAT_GZIP): return "tar.gz"
        case Int(CSYS_FORMAT_XZ): return "tar.xz"
        case Int(CSYS_FORMAT_ZSTD): return "tar.zst"
        default: return "tar"
        }
    }

    /// Reads the first bytes and picks the decoder.
    mutating func begin() throws(ServiceError) {
        while end < 6 && !inputEnded { try fill() }
        format = csys_decoder_detect(buffer.baseAddress, end)
        guard format != CSYS_FORMAT_PLAIN else { return }
        if let missing = csys_decoder_missing(format) { throw ServiceError(.unsupported, String(cString: missing)) }
        decoder = csys_decoder_new(format, ArchiveStream.decoderMemoryLimit)
        if decoder == nil { throw ServiceError(.io, "cannot start the \(formatName) decoder (out of memory)") }
    }

    /// More input behind what is buffered.
    private mutating func fill() throws(ServiceError) {
        if head > 0 {
            (buffer.baseAddress!).copyMemory(from: buffer.baseAddress! + head, byteCount: end - head)
            end -= head
            head = 0
        }
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer[end...])
        let count: Int
        switch input {
        case .file(let fd):
            do throws(Errno) {
                count = try fd.read(into: room)
            } catch {
                throw .io("reading \(what)", error)
            }
        case .http(var download):
            defer { input = .http(download) }
            count = try download.read(into: room)
        }
        if count == 0 { inputEnded = true }
        end += count
        consumed += Int64(count)
    }

    /// Archive bytes into `out`; 0 at the end of the archive data.
    mutating func read(into out: UnsafeMutableRawBufferPointer) throws(ServiceError) -> Int {
        while true {
            if head == end && !inputEnded { try fill() }
            guard let decoder else {
                let count = min(out.count, end - head)
                out.baseAddress!.copyMemory(from: buffer.baseAddress! + head, byteCount: count)
                head += count
                return count
            }
            if streamEnded { return 0 }
            var used = 0
            var produced = 0
            let status = csys_decoder_run(decoder, buffer.baseAddress! + head, end - head, &used, out.baseAddress,
                                          out.count, &produced, inputEnded ? 1 : 0)
            head += used
            switch Int(status) {
            case Int(CSYS_DECODE_ERROR):
                throw ServiceError(.badRequest, "\(what): \(String(cString: csys_decoder_message(decoder)))")
            case Int(CSYS_DECODE_END):
                streamEnded = true
            case Int(CSYS_DECODE_MEMBER_END):
                // Another gzip member or zstd frame may follow; only the input's end ends it.
                if head == end && !inputEnded { try fill() }
                if head == end && inputEnded { streamEnded = true }
            default:
                if produced == 0 && used == 0 && inputEnded {
                    throw ServiceError(.badRequest, "\(what): the \(formatName) data ends early")
                }
            }
            if produced > 0 { return produced }
        }
    }
}
