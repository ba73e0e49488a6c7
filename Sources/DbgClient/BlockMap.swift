import DbgWire

/// A bmaptool block map (the XML of Debian's bmap-tools, versions 1.x and 2.x): the
/// image's size, its block size, and the ranges of blocks that hold data, each with the
/// checksum of its bytes. What is not mapped need not be written.
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

    /// Parses the map and checks it: ranges in order, inside the image, and the file's own
    /// checksum (BmapFileChecksum, 2.x) when it has one.
    public init(parsing text: [UInt8]) throws(ClientError) {
        let xml = String(decoding: text, as: UTF8.self)
        func element(_ name: String) -> String? {
            guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else {
                return nil
            }
            return String(xml[open.upperBound..<close.lowerBound]).trimmingSpaces
        }
        func number(_ name: String) throws(ClientError) -> UInt64 {
            guard let text = element(name), let value = UInt64(text) else { throw .usage("bmap: no valid <\(name)>") }
            return value
        }
        guard xml.contains("<bmap") else { throw .usage("bmap: not a block map (no <bmap> element)") }
        imageSize = try number("ImageSize")
        blockSize = try number("BlockSize")
        guard blockSize > 0, blockSize % 512 == 0, blockSize <= 1 << 20 else { throw .usage("bmap: BlockSize \(blockSize) is not a multiple of 512 up to 1 MiB") }
        checksumType = element("ChecksumType")?.lowercased() ?? (xml.contains("sha1=") ? "sha1" : "")
        if let stated = element("BmapFileChecksum"), checksumType == "sha256" {
            // The file's SHA-256 with this field's value replaced by zeros.
            let zeroed = xml.replacingFirst(stated, with: String(repeating: "0", count: stated.count))
            var hasher = SHA256()
            Array(zeroed.utf8).withUnsafeBytes { hasher.update($0) }
            guard BlockMap.hex(hasher.finish()) == stated.lowercased() else {
                throw .usage("bmap: BmapFileChecksum does not match the file (damaged or edited)")
            }
        }
        var ranges: [Range] = []
        var rest = xml[...]
        let blocks = (imageSize + blockSize - 1) / blockSize
        while let open = rest.range(of: "<Range"), let end = rest.range(of: "</Range>", range: open.upperBound..<rest.endIndex) {
            let element = rest[open.upperBound..<end.lowerBound]
            guard let close = element.firstIndex(of: ">") else { throw .usage("bmap: a <Range> is not closed") }
            let attributes = element[..<close]
            let body = String(element[element.index(after: close)...]).trimmingSpaces
            let bounds = body.split(separator: "-").map { UInt64(String($0).trimmingSpaces) }
            guard bounds.count == 1 || bounds.count == 2, let first = bounds[0], let last = bounds.last!, first <= last,
                  (last < blocks), ranges.isEmpty || (first > ranges.last!.last) else {
                throw .usage("bmap: range '\(body)' is malformed, out of order or past the image's \(blocks) blocks")
            }
            ranges.append(Range(first: first, last: last, checksum: BlockMap.attribute(in: attributes)))
            rest = rest[end.upperBound...]
        }
        self.ranges = ranges
    }

    /// chksum="..." (2.x) or sha1="..." (1.x).
    private static func attribute(in attributes: Substring) -> String {
        for name in ["chksum=\"", "sha1=\""] {
            guard let start = attributes.range(of: name), let end = attributes[start.upperBound...].firstIndex(of: "\"") else {
                continue
            }
            return attributes[start.upperBound..<end].lowercased()
        }
        return ""
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes { out += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: out, as: UTF8.self)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        let bytes = Array(utf8)
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[start...end], as: UTF8.self)
    }

    func range(of needle: String, range: Swift.Range<Index>? = nil) -> Swift.Range<Index>? {
        let haystack = range.map { self[$0] } ?? self[...]
        let target = Array(needle.utf8)
        guard !target.isEmpty else { return nil }
        var index = haystack.startIndex
        while index < haystack.endIndex {
            if haystack[index...].utf8.starts(with: target) {
                return index..<haystack.utf8.index(index, offsetBy: target.count)
            }
            index = haystack.index(after: index)
        }
        return nil
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let found = range(of: target) else { return self }
        return String(self[..<found.lowerBound]) + replacement + String(self[found.upperBound...])
    }
}
