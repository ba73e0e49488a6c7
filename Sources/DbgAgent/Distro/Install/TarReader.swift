import DbgWire

/// One member of a tar archive, with the long names and pax overrides applied.
struct TarEntry {
    enum Kind {
        case regular, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo
    }

    var kind: Kind
    var path: [UInt8]
    var linkTarget: [UInt8]
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var size: Int64
    var mtime: Int64
    var deviceMajor: UInt32
    var deviceMinor: UInt32
}

/// Reads a tar archive (ustar, GNU long names, pax extended headers) from a stream and
/// hands each entry to `extract`, which reads a regular file's data through
/// `readData`. Checksums are verified; the archive must end with its zero blocks.
struct TarReader {
    static let block = 512
    /// GNU long names and pax headers larger than this are refused.
    static let maxMetadata = 1 << 20

    private var stream: ArchiveStream
    private let header = UnsafeMutableRawBufferPointer.allocate(byteCount: TarReader.block, alignment: 8)
    /// Data bytes of the current entry not read yet, and the padding after them.
    private var dataLeft: Int64 = 0
    private var paddingLeft = 0
    private(set) var entries = 0

    init(_ stream: ArchiveStream) { self.stream = stream }

    func close() {
        header.deallocate()
        stream.close()
    }

    var formatName: String { stream.formatName }

    /// Fills `buffer` completely; false when the stream ended first.
    private mutating func readFully(_ buffer: UnsafeMutableRawBufferPointer) throws(ServiceError) -> Bool {
        var filled = 0
        while filled < buffer.count {
            let got = try stream.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if got == 0 { return false }
            filled += got
        }
        return true
    }

    /// Up to `buffer.count` bytes of the current entry's data; 0 when it is all read.
    mutating func readData(into buffer: UnsafeMutableRawBufferPointer) throws(ServiceError) -> Int {
        guard dataLeft > 0 else { return 0 }
        let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), dataLeft))])
        let got = try stream.read(into: slice)
        if got == 0 { throw ServiceError(.badRequest, "the archive ends in the middle of an entry") }
        dataLeft -= Int64(got)
        return got
    }

    /// Skips what the consumer did not read of the entry, and its padding.
    private mutating func finishEntry() throws(ServiceError) {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { scratch.deallocate() }
        while dataLeft > 0 { _ = try readData(into: scratch) }
        if paddingLeft > 0 {
            let padding = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<paddingLeft])
            paddingLeft = 0
            guard try readFully(padding) else { throw ServiceError(.badRequest, "the archive ends in the middle of an entry") }
        }
    }

    private mutating func startData(_ size: Int64) {
        dataLeft = size
        paddingLeft = Int((Int64(TarReader.block) - size % Int64(TarReader.block)) % Int64(TarReader.block))
    }

    /// The next entry, or nil at the archive's end marker.
    mutating func next(cancel: CancelFlag) throws(ServiceError) -> TarEntry? {
        var longName: [UInt8]?
        var longLink: [UInt8]?
        var pax: [(key: [UInt8], value: [UInt8])] = []
        while true {
            if let reason = cancel.reason { throw ServiceError(.timeout, "install cancelled: \(reason)") }
            try finishEntry()
            guard try readFully(header) else { throw ServiceError(.badRequest, "the archive ends without its end marker") }
            if header.allSatisfy({ $0 == 0 }) { return nil }
            guard TarReader.checksumMatches(header) else {
                throw ServiceError(.badRequest, "not a tar archive, or a corrupt one (header \(entries + 1): bad checksum)")
            }
            guard let size = TarReader.number(header, 124, 12), size >= 0 else {
                throw ServiceError(.badRequest, "header \(entries + 1): bad size")
            }
            let type = header[156]
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= TarReader.maxMetadata else {
                    throw ServiceError(.badRequest, "header \(entries + 1): metadata above \(TarReader.maxMetadata) bytes")
                }
                startData(size)
                var data = [UInt8](repeating: 0, count: Int(size))
                try data.withUnsafeMutableBufferPointer { (buffer) throws(ServiceError) in
                    try readMetadata(into: UnsafeMutableRawBufferPointer(buffer))
                }
                switch type {
                case UInt8(ascii: "L"): longName = Array(data.prefix { $0 != 0 })
                case UInt8(ascii: "K"): longLink = Array(data.prefix { $0 != 0 })
                case UInt8(ascii: "x"):
                    guard let records = TarReader.paxRecords(data) else {
                        throw ServiceError(.badRequest, "header \(entries + 1): bad pax extended header")
                    }
                    pax = records
                default: break  // global pax headers: nothing in them matters here
                }
                continue
            default:
                break
            }
            entries += 1
            guard var entry = TarReader.entry(header, type: type, size: size) else {
                let shown = type >= 32 && type < 127 ? "'\(String(decoding: [type], as: UTF8.self))'" : "\(type)"
                throw ServiceError(.unsupported, "entry \(entries): unsupported tar entry type \(shown)")
            }
            if let longName { entry.path = longName }
            if let longLink { entry.linkTarget = longLink }
            for (key, value) in pax {
                let text = String(decoding: value, as: UTF8.self)
                switch key {
                case Array("path".utf8): entry.path = value
                case Array("linkpath".utf8): entry.linkTarget = value
                case Array("size".utf8): entry.size = Int64(text) ?? entry.size
                case Array("uid".utf8): entry.uid = UInt32(text) ?? entry.uid
                case Array("gid".utf8): entry.gid = UInt32(text) ?? entry.gid
                case Array("mtime".utf8):  // seconds, maybe with a fraction
                    entry.mtime = Int64(String(decoding: value.prefix { $0 != UInt8(ascii: ".") }, as: UTF8.self)) ?? entry.mtime
                default: break
                }
            }
            // Only regular files have data behind their header (POSIX ustar).
            startData(entry.kind == .regular ? entry.size : 0)
            return entry
        }
    }

    /// After the end marker: reads the rest of the stream, so that the decompressor
    /// reaches the end of its data and checks it (gzip's CRC-32, xz's and zstd's
    /// checksums). Corruption that still decoded into plausible tar data shows here.
    mutating func finishArchive() throws(ServiceError) {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { scratch.deallocate() }
        while try stream.read(into: scratch) > 0 {}
    }

    private mutating func readMetadata(into buffer: UnsafeMutableRawBufferPointer) throws(ServiceError) {
        var filled = 0
        while filled < buffer.count {
            filled += try readData(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
        }
    }

    private static func entry(_ header: UnsafeMutableRawBufferPointer, type: UInt8, size: Int64) -> TarEntry? {
        let kind: TarEntry.Kind
        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .regular
        case UInt8(ascii: "1"): kind = .hardLink
        case UInt8(ascii: "2"): kind = .symbolicLink
        case UInt8(ascii: "3"): kind = .characterDevice
        case UInt8(ascii: "4"): kind = .blockDevice
        case UInt8(ascii: "5"): kind = .directory
        case UInt8(ascii: "6"): kind = .fifo
        default: return nil
        }
        var path = text(header, 0, 100)
        // POSIX ustar keeps a prefix (GNU tar uses the field for other things).
        if field(header, 257, 6) == Array("ustar\0".utf8) {
            let prefix = text(header, 345, 155)
            if !prefix.isEmpty { path = prefix + [UInt8(ascii: "/")] + path }
        }
        return TarEntry(kind: kind, path: path, linkTarget: text(header, 157, 100),
                        mode: UInt32(truncatingIfNeeded: number(header, 100, 8) ?? 0o644),
                        uid: UInt32(truncatingIfNeeded: number(header, 108, 8) ?? 0),
                        gid: UInt32(truncatingIfNeeded: number(header, 116, 8) ?? 0),
                        size: size, mtime: number(header, 136, 12) ?? 0,
                        deviceMajor: UInt32(truncatingIfNeeded: number(header, 329, 8) ?? 0),
                        deviceMinor: UInt32(truncatingIfNeeded: number(header, 337, 8) ?? 0))
    }

    private static func field(_ header: UnsafeMutableRawBufferPointer, _ offset: Int, _ length: Int) -> [UInt8] {
        Array(header[offset..<(offset + length)])
    }

    /// A NUL-terminated (or full-width) text field.
    private static func text(_ header: UnsafeMutableRawBufferPointer, _ offset: Int, _ length: Int) -> [UInt8] {
        Array(header[offset..<(offset + length)].prefix { $0 != 0 })
    }

    /// Octal digits (after optional spaces, up to a space or NUL), or GNU base-256 when
    /// the top bit of the first byte is set.
    static func number(_ header: UnsafeMutableRawBufferPointer, _ offset: Int, _ length: Int) -> Int64? {
        let bytes = header[offset..<(offset + length)]
        if let first = bytes.first, first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x3f)
            for byte in bytes.dropFirst() {
                guard value < Int64.max >> 8 else { return nil }
                value = value << 8 | Int64(byte)
            }
            return first & 0x40 != 0 ? nil : value  // negative numbers make no sense here
        }
        var value: Int64 = 0
        var digits = 0
        for byte in bytes.drop(while: { $0 == 32 }) {
            if byte == 0 || byte == 32 { break }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7"), value < Int64.max >> 3 else { return nil }
            value = value << 3 | Int64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        return digits == 0 ? nil : value
    }

    /// The stored checksum against the header's byte sum with the checksum field as spaces
    /// (unsigned, or signed as some old tars computed it).
    static func checksumMatches(_ header: UnsafeMutableRawBufferPointer) -> Bool {
        guard let stored = number(header, 148, 8) else { return false }
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in header.enumerated() {
            let value = index >= 148 && index < 156 ? UInt8(32) : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        return stored == unsigned || stored == signed
    }

    /// "LENGTH KEY=VALUE\n" records.
    static func paxRecords(_ data: [UInt8]) -> [(key: [UInt8], value: [UInt8])]? {
        var records: [(key: [UInt8], value: [UInt8])] = []
        var at = 0
        while at < data.count {
            guard let space = data[at...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[at..<space], as: UTF8.self)), length > space - at,
                  at + length <= data.count, data[at + length - 1] == UInt8(ascii: "\n") else { return nil }
            let record = data[(space + 1)..<(at + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            records.append((Array(record[..<equals]), Array(record[(equals + 1)...])))
            at += length
        }
        return records
    }
}
