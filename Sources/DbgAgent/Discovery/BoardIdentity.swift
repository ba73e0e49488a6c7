import CSys
import DbgPlatform
import DbgWire

/// How the board presents itself on multicast DNS: its host name, the instance name of
/// its dbg service, and the TXT strings `dbg devices` shows (version, architecture,
/// serial number, protocol).
struct BoardIdentity {
    /// The host name's first label ("board" of board.local).
    let host: [UInt8]
    /// The service instance's name before any conflict renamed it.
    let instance: [UInt8]
    let serial: [UInt8]

    init(instanceName: String?) {
        var buffer = [UInt8](repeating: 0, count: 256)
        let named = buffer.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) } == 0
        var host = named ? Array(buffer.prefix { $0 != 0 }) : []
        // A host name's first label only, and never empty.
        if let dot = host.firstIndex(of: UInt8(ascii: ".")) { host = Array(host[..<dot]) }
        if host.isEmpty || host.count > 63 { host = Array("dbgd".utf8) }
        self.host = host
        instance = instanceName.map { Array($0.utf8.prefix(63)) } ?? host
        serial = BoardIdentity.readSerial()
    }

    /// The TXT record's strings (RFC 6763 key=value).
    var text: [[UInt8]] {
        [Array(("version=" + AgentVersion.number).utf8), Array(("arch=" + AgentVersion.architecture).utf8),
         Array("serial=".utf8) + serial, Array(("protocol=" + String(Control.protocolVersion)).utf8)]
    }

    /// The board's serial number from the device tree (what most dev boards have), else a
    /// stand-in derived from /etc/machine-id: hashed, so that the machine id itself (a
    /// secret for some uses) is never announced.
    private static func readSerial() -> [UInt8] {
        for path in ["/proc/device-tree/serial-number", "/sys/firmware/devicetree/base/serial-number"] {
            let text = firstLine(path)
            if !text.isEmpty { return Array(text.prefix(64)) }
        }
        let machine = firstLine("/etc/machine-id")
        guard !machine.isEmpty else { return Array("unknown".utf8) }
        var hasher = SHA256()
        (Array("dbgd serial ".utf8) + machine).withUnsafeBytes { hasher.update($0) }
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = Array("mid-".utf8)
        for byte in hasher.finish().prefix(8) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return out
    }

    /// The printable start of a small file (up to a NUL or a line end); empty if unreadable.
    private static func firstLine(_ path: String) -> [UInt8] {
        guard let file = try? FileDescriptor.open(path, writable: false) else { return [] }
        defer { file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 1)
        defer { buffer.deallocate() }
        let count = (try? file.read(into: buffer)) ?? 0
        return Array(buffer.prefix(max(0, count)).prefix { $0 >= 0x21 && $0 < 0x7F })
    }
}
