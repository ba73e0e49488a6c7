#if canImport(Glibc)
import Glibc
#endif

/// The serial link over telnet to an RFC 2217 port server (ser2net's `telnet(rfc2217)`):
/// the socket's side of TelnetCodec, which does the protocol.
final class TelnetCarrier: SerialCarrier {
    private var telnet: TelnetCodec
    /// Bytes for the socket: escaped data and negotiation, in order.
    private var pending: [UInt8] = []
    private var scratch = [UInt8](repeating: 0, count: 16 << 10)

    static let pendingLimit = 16 << 10

    init(fd: Int32, name: String, baud: Int) {
        telnet = TelnetCodec(baud: baud)
        super.init(fd: fd, name: name)
        pending = telnet.takeReplies()
        _ = flush()
    }

    override var hasPendingOutput: Bool { !pending.isEmpty }

    override func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let got = scratch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, buffer.count)) }
        if got <= 0 { return got }
        let count = scratch.withUnsafeBytes { raw in
            telnet.decode(UnsafeRawBufferPointer(rebasing: raw[0..<got]), into: buffer)
        }
        pending += telnet.takeReplies()
        guard count > 0 else {
            errno = EAGAIN  // only telnet commands this time
            return -1
        }
        return count
    }

    override func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard flush() else { return -1 }
        guard pending.count < TelnetCarrier.pendingLimit else {
            errno = EAGAIN
            return -1
        }
        telnet.encode(bytes, into: &pending)
        _ = flush()
        return bytes.count
    }

    override func flush() -> Bool {
        while !pending.isEmpty {
            let sent = pending.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if sent < 0 { return errno == EAGAIN || errno == EINTR }
            pending.removeFirst(sent)
        }
        return true
    }
}
