import DbgWire

/// A bmaptool block map (the XML of Debian's bmap-tools, versions 1.x and 2.x): the
/// image's size, its block size, and the ranges of blocks that hold data, each with the
/// checksum of its bytes. What is not mapped need not be written. Read as bytes (no
/// XML library, and none of the String APIs that would grow the static client).
public struct BlockMap: Equatable {
    public struct Range: Equatable {
        /// Blocks, both ends included.
        public let first: UInt64
        public let last: UInt64
        /// Lower-case hex, empty when the map has none.
        public let checksum: String
    }

    public let imageSize: UInt64
    public let blockSize: UInt64
    /// "sha256" (2.x), "sha1" (1.x) or "" (none).
    public let checksumType: String
    public let ranges: [Range]

    /// Bytes of a range in the image (the last block may be short).
    public func bytes(of range: Range) -> (offset: UInt64, length: UInt64) {
        let offset = range.first * blockSize
        return (offset, min((range.last + 1) * blockSize, imageSize) - offset)
    }

    public var mappedBytes: UInt64 { ranges.reduce(0) { $0 + bytes(of: $1).length } }

    /// Parses the map and checks it: ranges in order and inside the image, and the file's
    /// own checksum (BmapFileChecksum, 2.x) when it has one.
    public init(parsing text: [UInt8]) throws(ClientError) {
        let xml = XMLBytes(text)
        func number(_ name: String) throws(ClientError) -> UInt64 {
            guard let value = xml.element(name).flatMap(XMLBytes.decimal) else { throw .usage("bmap: no valid <\(name)>") }
            return value
        }
        guard xml.find("<bmap", from: 0) != nil else { throw .usage("bmap: not a block map (no <bmap> element)") }
        imageSize = try number("ImageSize")
        blockSize = try number("BlockSize")
        guard blockSize > 0, blockSize % 512 == 0, blockSize <= 1 << 20 else {
            throw .usage("bmap: BlockSize \(blockSize) is not a multiple of 512 up to 1 MiB")
        }
        if let type = xml.element("ChecksumType") {
            checksumType = XMLBytes.lowercase(type)
        } else {
            checksumType = xml.find("sha1=", from: 0) != nil ? "sha1" : ""
        }
        if checksumType == "sha256", let stated = xml.element("BmapFileChecksum"), let at = xml.find(stated, from: 0) {
            // The file's SHA-256 with this field's value written as zeros.
            var zeroed = text
            for index in at..<(at + stated.count) { zeroed[index] = UInt8(ascii: "0") }
            var hasher = SHA256()
            zeroed.withUnsafeBytes { hasher.update($0) }
            guard BlockMap.hex(hasher.finish()) == XMLBytes.lowercase(stated) else {
                throw .usage("bmap: BmapFileChecksum does not match the file (damaged or edited)")
            }
        }
        var ranges: [Range] = []
        let blocks = (imageSize + blockSize - 1) / blockSize
        var position = 0
        while let open = xml.find("<Range", from: position), let end = xml.find("</Range>", from: open) {
            guard let close = text[open..<end].firstIndex(of: UInt8(ascii: ">")) else { throw .usage("bmap: a <Range> is not closed") }
            let body = XMLBytes.trimmed(text[(close + 1)..<end])
            let bounds = body.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false).map { XMLBytes.decimal(XMLBytes.trimmed($0)) }
            guard bounds.count == 1 || bounds.count == 2, let first = bounds[0], let last = bounds[bounds.count - 1], first <= last,
                  last < blocks, ranges.isEmpty || first > ranges[ranges.count - 1].last else {
                throw .usage("bmap: range '\(String(decoding: body, as: UTF8.self))' is malformed, out of order or past the image's \(blocks) blocks")
            }
            ranges.append(Range(first: first, last: last, checksum: xml.attribute(in: open..<close)))
            position = end + 8
        }
        self.ranges = ranges
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The few byte-level lookups a block map needs.
private struct XMLBytes {
    let text: [UInt8]

    init(_ text: [UInt8]) { self.text = text }

    func find(_ needle: String, from start: Int) -> Int? { find(Array(needle.utf8), from: start) }

    func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, text.count >= needle.count, start <= text.count - needle.count else { return nil }
        var index = start
        while index <= text.count - needle.count {
            if text[index] == needle[0] && text[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// The trimmed text of the first <name>...</name>.
    func element(_ name: String) -> [UInt8]? {
        guard let open = find("<\(name)>", from: 0), let close = find("</\(name)>", from: open) else { return nil }
        return XMLBytes.trimmed(text[(open + name.utf8.count + 2)..<close])
    }

    /// chksum="..." (2.x) or sha1="..." (1.x) within a tag.
    func attribute(in tag: Swift.Range<Int>) -> String {
        for name in ["chksum=\"", "sha1=\""] {
            guard let at = find(name, from: tag.lowerBound), at < tag.upperBound else { continue }
            let start = at + name.utf8.count
            guard let end = text[start..<tag.upperBound].firstIndex(of: UInt8(ascii: "\"")) else { continue }
            return XMLBytes.lowercase(Array(text[start..<end]))
        }
        return ""
    }

    static func trimmed<C: BidirectionalCollection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else { return [] }
        return Array(bytes[start...end])
    }

    static func decimal(_ bytes: [UInt8]) -> UInt64? {
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + UInt64(byte - 0x30)
        }
        return value
    }

    static func lowercase(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
