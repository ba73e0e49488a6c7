import CSys
import DbgPlatform
import DbgWire

/// One serial line of the agent (`--serial DEV[,BAUD]`): the tty, the link engine that
/// makes it a reliable stream, and the bridge that carries that stream to a connection
/// like any other. The bridge is a socketpair: the connection's end is an ordinary
/// connection slot, so every service works over the line unchanged.
final class SerialLine {
    struct Spec: Equatable {
        var path: String
        var baud: Int

        static let defaultBaud = 115_200

        /// "DEV" or "DEV,BAUD".
        static func parse(_ text: String) -> Spec? {
            let bytes = Array(text.utf8)
            guard let comma = bytes.lastIndex(of: UInt8(ascii: ",")) else {
                return bytes.isEmpty ? nil : Spec(path: text, baud: defaultBaud)
            }
            let path = String(decoding: bytes[..<comma], as: UTF8.self)
            guard !path.isEmpty, let baud = Int(String(decoding: bytes[(comma + 1)...], as: UTF8.self)),
                  SerialPort.isStandard(baud: baud) else { return nil }
            return Spec(path: path, baud: baud)
        }
    }

    static let reopenIntervalMs: Milliseconds = 1_000
    static let readSize = 16 << 10
    /// The link engine's stream and line buffers plus the read buffer, for the budget line.
    static let bufferBytes = 2 * LinkEngine.streamBuffer + (8 << 10) + readSize

    let spec: Spec
    var engine: LinkEngine
    var tty: FileDescriptor?
    /// While the device is absent: when to try opening it again.
    var reopenAt: Milliseconds?
    /// Our end of the bridge; the other end is `connection`.
    var bridge: FileDescriptor?
    var connection = ConnectionRef.detached
    /// The connection has ended: the client is told (CLOSE) once all it was sent has been
    /// acknowledged.
    var closing = false
    var ttyInterest: Interest?
    var bridgeInterest: Interest?
    /// Stream bytes read from the link that the bridge could not take yet.
    var pendingToBridge: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: SerialLine.readSize, alignment: 8)

    init(_ spec: Spec) {
        self.spec = spec
        engine = LinkEngine(role: .agent, baud: spec.baud)
    }

    deinit { buffer.deallocate() }

    var description: String { "serial:\(spec.path)" }

    /// The counters of the stream so far, for the log.
    var countersDescription: String {
        let c = engine.counters
        return "\(c.packetsSent) packets sent, \(c.packetsReceived) received, \(c.framesDropped) frames dropped, "
            + "\(c.retransmissions) retransmitted, \(c.duplicates) duplicates"
    }
}
