import CTLS
import DbgPlatform
import DbgWire
import Glibc

/// How a TLS connection decides to trust the board, and what it shows of itself.
public struct TLSTrust: Sendable {
    /// The client's key, shown to the agent for key login (dbg keygen); nil: none.
    public var clientKey: TLSKey?
    /// Given the board key's fingerprint (SHA256:...), returns or throws to refuse it.
    public var check: @Sendable (String) throws(ClientError) -> Void

    public init(clientKey: TLSKey? = nil, check: @escaping @Sendable (String) throws(ClientError) -> Void) {
        self.clientKey = clientKey
        self.check = check
    }

    /// Trusts exactly one key.
    public static func pinned(_ fingerprint: String, clientKey: TLSKey? = nil) -> TLSTrust {
        TLSTrust(clientKey: clientKey) { (presented: String) throws(ClientError) in
            guard presented == fingerprint else {
                throw .untrusted("the board's key is \(presented), not the \(fingerprint) expected")
            }
        }
    }
}

/// The client's end of a TLS connection: the handshake runs here before anything else
/// (the board's key is checked before a byte of the protocol goes out), then a thread
/// runs the engine (`TLSPump`) between the TCP socket and one end of a socketpair; the
/// other end is what AgentConnection reads and writes, as for a serial line.
final class TLSBridge: @unchecked Sendable {
    /// AgentConnection's end of the socketpair.
    let connectionEnd: Int32
    /// The board key's fingerprint.
    let fingerprint: String
    private let bridgeEnd: Int32
    private let network: Int32
    private let memory: UnsafeMutableRawPointer
    private let staging: UnsafeMutableRawBufferPointer
    private let pump: TLSPump

    /// Takes `network` (connected, non-blocking), which it closes when done or on failure.
    init(network: Int32, name: String, trust: TLSTrust, timeoutSeconds: Int) throws(ClientError) {
        self.network = network
        memory = .allocate(byteCount: ctls_session_size(), alignment: 16)
        staging = .allocate(byteCount: TLSPump.stagingSize, alignment: 16)
        pump = TLSPump(engine: OpaquePointer(memory), staging: staging)
        var ends: [Int32] = [-1, -1]
        let certificate = trust.clientKey?.certificate.der ?? []
        let started = ctls_client_start(pump.engine, certificate, certificate.count, trust.clientKey?.secret)
        guard started == 0, socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            Glibc.close(network)
            memory.deallocate()
            staging.deallocate()
            throw .connect("cannot set up TLS: \(describe(errno))")
        }
        connectionEnd = ends[0]
        bridgeEnd = ends[1]
        _ = fcntl(bridgeEnd, F_SETFL, fcntl(bridgeEnd, F_GETFL) | O_NONBLOCK)
        do throws(ClientError) {
            try TLSBridge.handshake(pump, network: network, bridge: bridgeEnd, name: name, timeoutSeconds: timeoutSeconds)
            guard let key = pump.peerKey else { throw .connect("TLS with \(name): the board showed no key") }
            fingerprint = KeyCertificate.fingerprint(point: key)
            try trust.check(fingerprint)
        } catch {
            [network, connectionEnd, bridgeEnd].forEach { _ = Glibc.close($0) }
            memory.deallocate()
            staging.deallocate()
            throw error
        }
        startThread { [self] in run() }
    }

    /// Until the engine says the handshake is over; a refusal the agent sent in cleartext
    /// (a Sutra error frame: full, or no TLS on that agent) is read and thrown as such.
    private static func handshake(_ pump: TLSPump, network: Int32, bridge: Int32, name: String,
                                  timeoutSeconds: Int) throws(ClientError) {
        let deadline = MonotonicClock.milliseconds() + Int64(timeoutSeconds) * 1000
        var answered = false  // the agent's first bytes have come: a ServerHello, or a refusal
        while true {
            if !answered && pump.wantsNetworkRead {
                var first = [UInt8](repeating: 0, count: 2)
                let got = recv(network, &first, 2, Int32(MSG_PEEK))
                answered = got > 0
                if got == 2 && first == Array("S2".utf8) { throw cleartextRefusal(network) }
            }
            switch pump.pump(network: network, bridge: bridge, nowMs: MonotonicClock.milliseconds()) {
            case .established: return
            case .ended(let failure):
                throw .connect("TLS handshake with \(name) failed: \(failure ?? "closed") (does that agent take TLS?)")
            case .going: break
            }
            let left = deadline - MonotonicClock.milliseconds()
            guard left > 0 else { throw .connect("TLS handshake with \(name): no answer within \(timeoutSeconds) s") }
            var events: Int16 = 0
            if pump.wantsNetworkRead { events |= Int16(POLLIN) }
            if pump.wantsNetworkWrite { events |= Int16(POLLOUT) }
            var wanted = pollfd(fd: network, events: events, revents: 0)
            _ = poll(&wanted, 1, Int32(clamping: left))
        }
    }

    /// The agent answers a connection it turns away with a Sutra error frame, in cleartext
    /// (it decides before it reads anything): that frame's error.
    private static func cleartextRefusal(_ network: Int32) -> ClientError {
        _ = fcntl(network, F_SETFL, fcntl(network, F_GETFL) & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)  // the frame is sent whole; never wait long for it
        setsockopt(network, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var header = [UInt8](repeating: 0, count: FrameHeader.size)
        guard recv(network, &header, header.count, Int32(MSG_WAITALL)) == header.count,
              case let decoded = header.withUnsafeBytes({ FrameHeader(parsing: $0) }), decoded.kind == .error,
              decoded.length <= 4096 else { return .malformed("the agent answered the TLS handshake in cleartext") }
        var payload = [UInt8](repeating: 0, count: Int(decoded.length))
        guard recv(network, &payload, payload.count, Int32(MSG_WAITALL)) == payload.count,
              let error = try? ReceivedFrame(header: decoded, payload: payload).remoteError() else {
            return .malformed("the agent answered the TLS handshake in cleartext")
        }
        return error
    }

    /// The engine's thread: until either side is done.
    private func run() {
        defer {
            Glibc.close(network)
            Glibc.close(bridgeEnd)
            memory.deallocate()
            staging.deallocate()
        }
        while true {
            switch pump.pump(network: network, bridge: bridgeEnd, nowMs: MonotonicClock.milliseconds()) {
            case .ended: return
            case .going, .established: break
            }
            var networkEvents: Int16 = 0
            if pump.wantsNetworkRead { networkEvents |= Int16(POLLIN) }
            if pump.wantsNetworkWrite { networkEvents |= Int16(POLLOUT) }
            var bridgeEvents: Int16 = 0
            if pump.wantsBridgeRead { bridgeEvents |= Int16(POLLIN) }
            if pump.wantsBridgeWrite { bridgeEvents |= Int16(POLLOUT) }
            var wanted = [pollfd(fd: network, events: networkEvents, revents: 0),
                          pollfd(fd: pump.bridgeEnded ? -1 : bridgeEnd, events: bridgeEvents, revents: 0)]
            let wait = pump.closingUntil.map { Int32(clamping: max(0, $0 - MonotonicClock.milliseconds())) } ?? -1
            _ = poll(&wanted, 2, wait)
            if wanted[1].revents & Int16(POLLHUP | POLLERR) != 0 && bridgeEvents & Int16(POLLIN) == 0 {
                pump.endBridge(nowMs: MonotonicClock.milliseconds())  // AgentConnection closed its end
            }
            if wanted[0].revents & Int16(POLLHUP | POLLERR) != 0 && networkEvents == 0 { return }
            if let until = pump.closingUntil, MonotonicClock.milliseconds() >= until { return }
        }
    }
}
