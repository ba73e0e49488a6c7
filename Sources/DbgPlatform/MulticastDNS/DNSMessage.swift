/// DNS messages as multicast DNS uses them (RFC 1035 wire format, RFC 6762): what the
/// agent's responder and the client's browser read and write. Every packet read comes
/// from anyone on the link, so every length is checked, a name may not exceed 255 bytes,
/// and a compression pointer must point backwards (no loops).
public struct DNSMessage {
    public var id: UInt16 = 0
    public var flags: UInt16 = 0
    public var questions: [DNSQuestion] = []
    public var answers: [DNSRecord] = []
    public var authorities: [DNSRecord] = []
    public var additionals: [DNSRecord] = []

    public init() {}

    public static let responseFlags: UInt16 = 0x8400  // QR, AA
    public var isResponse: Bool { flags & 0x8000 != 0 }

    /// More than this many entries in a section: the rest are not read.
    public static let maxEntries = 64

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DNSError) -> DNSMessage {
        var reader = DNSReader(bytes)
        var message = DNSMessage()
        message.id = try reader.u16()
        message.flags = try reader.u16()
        // The opcode must be 0 (query) and the response code 0.
        guard message.flags & 0x780F == 0 else { throw .unsupported }
        let counts = [try reader.u16(), try reader.u16(), try reader.u16(), try reader.u16()]
        for _ in 0..<min(Int(counts[0]), maxEntries) {
            let name = try reader.name()
            let type = try reader.u16()
            let klass = try reader.u16()
            message.questions.append(DNSQuestion(name: name, type: type, unicastResponse: klass & 0x8000 != 0))
        }
        if counts[0] > UInt16(maxEntries) { return message }
        for section in 1...3 {
            for _ in 0..<min(Int(counts[section]), maxEntries) {
                let record = try reader.record()
                switch section {
                case 1: message.answers.append(record)
                case 2: message.authorities.append(record)
                default: message.additionals.append(record)
                }
            }
            if counts[section] > UInt16(maxEntries) { return message }
        }
        return message
    }

    /// The message in wire format (names uncompressed), or nil if it exceeds `limit`.
    public func encode(limit: Int = 9000) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(512)
        DNSMessage.put(id, &out)
        DNSMessage.put(flags, &out)
        for count in [questions.count, answers.count, authorities.count, additionals.count] { DNSMessage.put(UInt16(count), &out) }
        for question in questions {
            DNSMessage.put(question.name, &out)
            DNSMessage.put(question.type, &out)
            DNSMessage.put(DNSClass.internet | (question.unicastResponse ? 0x8000 : 0), &out)
        }
        for record in answers + authorities + additionals {
            DNSMessage.put(record.name, &out)
            DNSMessage.put(record.type, &out)
            DNSMessage.put(DNSClass.internet | (record.cacheFlush ? 0x8000 : 0), &out)
            DNSMessage.put(UInt16(record.ttl >> 16), &out)
            DNSMessage.put(UInt16(record.ttl & 0xFFFF), &out)
            let data = DNSMessage.encodedData(record)
            DNSMessage.put(UInt16(data.count), &out)
            out += data
        }
        return out.count <= limit ? out : nil
    }

    /// A record's data in wire format (RDATA), as probes compare it.
    public static func encodedData(_ record: DNSRecord) -> [UInt8] {
        var out: [UInt8] = []
        switch record.data {
        case .address(let bytes), .other(let bytes): out += bytes
        case .pointer(let target): put(target, &out)
        case .service(let priority, let weight, let port, let target):
            put(priority, &out)
            put(weight, &out)
            put(port, &out)
            put(target, &out)
        case .text(let strings):
            for string in strings {
                out.append(UInt8(min(string.count, 255)))
                out += string.prefix(255)
            }
            if strings.isEmpty { out.append(0) }
        }
        return out
    }

    private static func put(_ value: UInt16, _ out: inout [UInt8]) {
        out.append(UInt8(value >> 8))
        out.append(UInt8(value & 0xFF))
    }

    private static func put(_ name: DNSName, _ out: inout [UInt8]) {
        for label in name.labels {
            out.append(UInt8(min(label.count, 63)))
            out += label.prefix(63)
        }
        out.append(0)
    }
}

public enum DNSType {
    public static let a: UInt16 = 1
    public static let pointer: UInt16 = 12
    public static let text: UInt16 = 16
    public static let aaaa: UInt16 = 28
    public static let service: UInt16 = 33
    public static let nsec: UInt16 = 47
    public static let any: UInt16 = 255
}

public enum DNSClass {
    public static let internet: UInt16 = 1
}

public enum DNSError: Error, Equatable {
    case truncated
    case badName
    case unsupported
}

/// A domain name as labels; compared without regard to ASCII case.
public struct DNSName: Equatable, Sendable {
    public var labels: [[UInt8]]

    public init(labels: [[UInt8]]) { self.labels = labels }

    /// From dotted text whose labels contain no dots ("_dbg._tcp.local").
    public init(_ dotted: String) {
        labels = dotted.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: true).map { Array($0) }
    }

    /// `first` (which may contain dots and spaces: an instance name) before `rest`.
    public init(_ first: [UInt8], _ rest: DNSName) { labels = [first] + rest.labels }

    public static func == (a: DNSName, b: DNSName) -> Bool {
        guard a.labels.count == b.labels.count else { return false }
        for (x, y) in zip(a.labels, b.labels) {
            guard x.count == y.count else { return false }
            for (p, q) in zip(x, y) where lower(p) != lower(q) { return false }
        }
        return true
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 65 && byte <= 90 ? byte + 32 : byte }

    /// Whether this name ends with `suffix` (`board._dbg._tcp.local` in `_dbg._tcp.local`).
    public func isInside(_ suffix: DNSName) -> Bool {
        labels.count > suffix.labels.count && DNSName(labels: Array(labels.suffix(suffix.labels.count))) == suffix
    }

    /// Dotted, for messages (a label's own dots are not escaped).
    public var text: String {
        var out = ""
        for label in labels {
            if !out.isEmpty { out += "." }
            out += String(decoding: label, as: UTF8.self)
        }
        return out
    }
}

public struct DNSQuestion {
    public var name: DNSName
    public var type: UInt16
    /// The QU bit: the asker wants a unicast answer.
    public var unicastResponse: Bool

    public init(name: DNSName, type: UInt16, unicastResponse: Bool = false) {
        self.name = name
        self.type = type
        self.unicastResponse = unicastResponse
    }
}

public struct DNSRecord {
    public enum Data: Equatable {
        /// A (4 bytes) or AAAA (16 bytes).
        case address([UInt8])
        case pointer(DNSName)
        case service(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
        case text([[UInt8]])
        case other([UInt8])
    }

    public var name: DNSName
    public var type: UInt16
    /// The cache-flush bit: this host owns the name's records of this type.
    public var cacheFlush: Bool
    public var ttl: UInt32
    public var data: Data

    public init(name: DNSName, type: UInt16, cacheFlush: Bool, ttl: UInt32, data: Data) {
        self.name = name
        self.type = type
        self.cacheFlush = cacheFlush
        self.ttl = ttl
        self.data = data
    }
}

/// Reads a message's fields in order, every read checked against its end.
struct DNSReader {
    private let bytes: UnsafeRawBufferPointer
    private var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func u8() throws(DNSError) -> UInt8 {
        guard position < bytes.count else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() throws(DNSError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }

    mutating func u32() throws(DNSError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }

    mutating func take(_ count: Int) throws(DNSError) -> [UInt8] {
        guard count >= 0, count <= bytes.count - position else { throw .truncated }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }

    /// A name at the current position, following compression pointers backwards only.
    mutating func name() throws(DNSError) -> DNSName {
        var labels: [[UInt8]] = []
        var length = 1
        var at = position
        var resumeAt: Int?
        while true {
            guard at < bytes.count else { throw .truncated }
            let size = Int(bytes[at])
            if size == 0 {
                at += 1
                break
            }
            if size & 0xC0 == 0xC0 {
                guard at + 1 < bytes.count else { throw .truncated }
                let target = (size & 0x3F) << 8 | Int(bytes[at + 1])
                // Strictly backwards: each jump lands earlier, so there can be no loop.
                guard target < at else { throw .badName }
                if resumeAt == nil { resumeAt = at + 2 }
                at = target
                continue
            }
            guard size & 0xC0 == 0 else { throw .badName }
            length += size + 1
            guard length <= 255, at + 1 + size <= bytes.count else { throw .badName }
            labels.append(Array(bytes[(at + 1)..<(at + 1 + size)]))
            at += 1 + size
        }
        position = resumeAt ?? at
        return DNSName(labels: labels)
    }

    mutating func record() throws(DNSError) -> DNSRecord {
        let name = try name()
        let type = try u16()
        let klass = try u16()
        let ttl = try u32()
        let length = Int(try u16())
        guard length <= bytes.count - position else { throw .truncated }
        let end = position + length
        let data: DNSRecord.Data
        switch type {
        case DNSType.a where length == 4, DNSType.aaaa where length == 16:
            data = .address(try take(length))
        case DNSType.pointer:
            data = .pointer(try self.name())
        case DNSType.service where length >= 7:
            data = .service(priority: try u16(), weight: try u16(), port: try u16(), target: try self.name())
        case DNSType.text:
            var strings: [[UInt8]] = []
            while position < end {
                let size = Int(try u8())
                guard position + size <= end else { throw .truncated }
                strings.append(try take(size))
            }
            data = .text(strings)
        default:
            data = .other(try take(length))
        }
        // A name inside the data must end where the data does.
        guard position == end else { throw .badName }
        return DNSRecord(name: name, type: type, cacheFlush: klass & 0x8000 != 0, ttl: ttl, data: data)
    }
}
