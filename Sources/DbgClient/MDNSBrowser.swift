import CSys
import DbgPlatform
import Glibc

/// A board that answered multicast DNS for `_dbg._tcp.local` (dbgd --mdns).
public struct DiscoveredBoard: Equatable, Sendable {
    /// The service instance's name ("lab-3", "board (2)").
    public var name: String
    /// Its host name ("board.local").
    public var host: String
    /// IPv4 addresses first, then IPv6, as text.
    public var addresses: [String]
    public var port: UInt16
    /// The TXT record: version, arch, serial, protocol.
    public var properties: [String: String]

    public var serial: String { properties["serial"] ?? "" }

    /// Whether `wanted` names this board: its instance name, its serial number or its
    /// host name (without ".local"), in any case.
    public func isNamed(_ wanted: String) -> Bool {
        let key = wanted.lowercased()
        return name.lowercased() == key || (!serial.isEmpty && serial.lowercased() == key)
            || host.lowercased() == key || host.lowercased() == key + ".local"
    }
}

/// Browses for dbg boards: one-shot multicast DNS queries (RFC 6762, 5.1) from a port
/// of its own, out of every multicast interface, repeated each second; the answers come
/// back to that port. Boards that leave something out (a responder that sends no
/// additional records) are asked again for what is missing.
public enum MDNSBrowser {
    static let service = DNSName("_dbg._tcp.local")

    /// Every board heard within `seconds`, or as soon as `enough` says so.
    public static func browse(seconds: Double, until enough: ([DiscoveredBoard]) -> Bool = { _ in false })
        throws(ClientError) -> [DiscoveredBoard] {
        let fd = csys_mdns_socket(0)
        guard fd >= 0 else { throw .connect("multicast DNS: cannot open a UDP socket: \(describe(errno))") }
        defer { close(fd) }
        var heard = Heard()
        let start = MonotonicClock.milliseconds()
        let deadline = start + Int64(seconds * 1000)
        var nextQuery = start
        var buffer = [UInt8](repeating: 0, count: 9000)
        while true {
            let now = MonotonicClock.milliseconds()
            if now >= deadline { break }
            if now >= nextQuery {
                send(heard.questions(), on: fd)
                nextQuery = now + 1000
            }
            var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, Int32(min(deadline, nextQuery) - now)) > 0 else { continue }
            while true {
                var source = [UInt8](repeating: 0, count: 4)
                var port: UInt16 = 0
                var index: UInt32 = 0
                let count = buffer.withUnsafeMutableBytes { csys_mdns_receive(fd, $0.baseAddress, $0.count, &source, &port, &index) }
                if count < 0 { break }
                guard count > 0, let message = buffer.withUnsafeBytes({ try? DNSMessage.parse(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }),
                      message.isResponse else { continue }
                heard.take(message.answers + message.authorities + message.additionals)
            }
            if enough(heard.boards) { break }
        }
        return heard.boards
    }

    /// The board `name` names (instance, serial or host name), waiting at most `seconds`.
    public static func find(_ name: String, seconds: Double) throws(ClientError) -> DiscoveredBoard {
        let boards = try browse(seconds: seconds) { found in found.contains { $0.isNamed(name) && !$0.addresses.isEmpty } }
        guard let board = boards.first(where: { $0.isNamed(name) && !$0.addresses.isEmpty }) else {
            let others = boards.map(\.name).joined(separator: ", ")
            throw .connect("no board named '\(name)' answered multicast DNS within \(Int(seconds)) s"
                + (others.isEmpty ? "" : " (heard: \(others))"))
        }
        return board
    }

    private static func send(_ questions: [DNSQuestion], on fd: Int32) {
        var query = DNSMessage()
        query.id = UInt16.random(in: 1...UInt16.max)
        query.questions = questions
        guard let bytes = query.encode() else { return }
        var interfaces = [csys_interface_address](repeating: csys_interface_address(), count: 32)
        let count = max(0, Int(csys_interface_addresses(&interfaces, 32)))
        let indices = Array(Set(interfaces.prefix(count).filter { $0.family == AF_INET }.map(\.index)))
        for index in indices.isEmpty ? [0] : indices {
            bytes.withUnsafeBytes { _ = csys_mdns_send(fd, $0.baseAddress, $0.count, nil, 5353, index) }
        }
    }
}

/// What the answers said so far, record by record.
private struct Heard {
    var instances: [DNSName] = []
    var services: [(name: DNSName, port: UInt16, target: DNSName)] = []
    var texts: [(name: DNSName, strings: [[UInt8]])] = []
    var addresses: [(name: DNSName, bytes: [UInt8])] = []

    mutating func take(_ records: [DNSRecord]) {
        for record in records {
            switch record.data {
            case .pointer(let target) where record.name == MDNSBrowser.service && target.isInside(MDNSBrowser.service):
                if !instances.contains(target) { instances.append(target) }
            case .service(_, _, let port, let target) where record.name.isInside(MDNSBrowser.service):
                services.removeAll { $0.name == record.name }
                if record.ttl > 0 { services.append((record.name, port, target)) }
            case .text(let strings) where record.name.isInside(MDNSBrowser.service):
                texts.removeAll { $0.name == record.name }
                texts.append((record.name, strings))
            case .address(let bytes):
                if !addresses.contains(where: { $0.name == record.name && $0.bytes == bytes }) { addresses.append((record.name, bytes)) }
            default:
                break
            }
            // A goodbye (TTL 0) for the pointer: the board left.
            if record.ttl == 0, case .pointer(let target) = record.data { instances.removeAll { $0 == target } }
        }
    }

    /// The PTR question, and questions for what an instance still lacks.
    func questions() -> [DNSQuestion] {
        var questions = [DNSQuestion(name: MDNSBrowser.service, type: DNSType.pointer)]
        for instance in instances where !services.contains(where: { $0.name == instance }) {
            questions.append(DNSQuestion(name: instance, type: DNSType.service))
            questions.append(DNSQuestion(name: instance, type: DNSType.text))
        }
        for service in services where !addresses.contains(where: { $0.name == service.target }) {
            questions.append(DNSQuestion(name: service.target, type: DNSType.a))
        }
        return Array(questions.prefix(16))
    }

    var boards: [DiscoveredBoard] {
        instances.compactMap { instance in
            guard let service = services.first(where: { $0.name == instance }) else { return nil }
            var properties: [String: String] = [:]
            for string in texts.first(where: { $0.name == instance })?.strings ?? [] {
                let text = String(decoding: string, as: UTF8.self)
                let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if let key = parts.first, !key.isEmpty { properties[String(key)] = parts.count == 2 ? String(parts[1]) : "" }
            }
            let found = addresses.filter { $0.name == service.target }.map(\.bytes).sorted { $0.count < $1.count }
            return DiscoveredBoard(name: String(decoding: instance.labels.first ?? [], as: UTF8.self), host: service.target.text,
                                   addresses: found.map(Heard.text), port: service.port, properties: properties)
        }
    }

    static func text(_ address: [UInt8]) -> String {
        var out = [CChar](repeating: 0, count: 64)
        let family = address.count == 4 ? AF_INET : AF_INET6
        _ = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &out, 64) }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
