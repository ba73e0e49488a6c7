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

/// The client's end of a TLS connection. The handshake runs first (the board's key is
/// checked before a byte of the protocol goes out); then the threads that send and
/// receive (AgentConnection's) make and read the records themselves, so that bytes cross
/// no socketpair and no other thread. The engine is shared by the two directions: its
/// lock is held for engine calls only, never while the socket blocks, so a sender that
/// waits for the agent to read never keeps the receiver from reading.
final class TLSChannel: @unchecked Sendable {
    /// The TCP socket: blocking, bounded by its timeouts (SO_RCVTIMEO, SO_SNDTIMEO).
    let network: Int32
    /// The board key's fingerprint.
    let fingerprint: String
    let pump: TLSPump
    /// The engine's memory and the pump's staging, until a bridge takes them over.
    private var memory: UnsafeMutableRawPointer?
    private var staging: UnsafeMutableRawBufferPointer?
    private let engineLock = Lock()
    /// Held by the one sending: the gathered records and their order on the socket.
    private let sendLock = Lock()
    /// Reads of up to this much: few system calls per megabyte (bridged: a connection
    /// master may take the session over).
    private static let readAhead = 256 << 10
    /// Why the session failed (BearSSL's error), once it did.
    private(set) var failure: String?

    /// Takes `network` (connected, non-blocking), which it closes on failure.
    init(network: Int32, name: String, trust: TLSTrust, timeoutSeconds: Int) throws(ClientError) {
        self.network = network
        let memory = UnsafeMutableRawPointer.allocate(byteCount: ctls_session_size(), alignment: 16)
        let size = TLSPump.stagingSize(readAhead: TLSChannel.readAhead, bridged: true)
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        pump = TLSPump(engine: OpaquePointer(memory), staging: staging, readAhead: TLSChannel.readAhead, bridged: true)
        (self.memory, self.staging) = (memory, staging)
        let certificate = trust.clientKey?.certificate.der ?? []
        do throws(ClientError) {
            guard ctls_client_start(pump.engine, certificate, certificate.count, trust.clientKey?.secret) == 0 else {
                throw .connect("cannot set up TLS for \(name)")
            }
            try TLSChannel.handshake(pump, network: network, name: name, timeoutSeconds: timeoutSeconds)
            guard let key = pump.peerKey else { throw .connect("TLS with \(name): the board showed no key") }
            fingerprint = KeyCertificate.fingerprint(point: key)
            try trust.check(fingerprint)
        } catch {
            Glibc.close(network)
            memory.deallocate()
            staging.deallocate()
            self.memory = nil
            throw error
        }
        _ = fcntl(network, F_SETFL, fcntl(network, F_GETFL) & ~O_NONBLOCK)
    }

    deinit {
        guard let memory, let staging else { return }  // a bridge took the session
        close()
        Glibc.close(network)
        memory.deallocate()
        staging.deallocate()
    }

    /// Like recv(2): decrypted bytes into `buffer`; 0 at the end of the agent's stream;
    /// -1 with errno set (EAGAIN: the socket's timeout passed; EPROTO: `failure`).
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            switch engineLock.withLock({ pump.decrypted(into: buffer) }) {
            case .bytes(let count):
                return count
            case .closed(let failure):
                guard let failure else { return 0 }
                self.failure = failure
                errno = EPROTO
                return -1
            case .needsSending:
                switch sendRecords() {
                case true: continue
                case false: return -1
                case nil:
                    failure = "the TLS engine neither reads nor sends"
                    errno = EPROTO
                    return -1
                }
            case .needsNetwork:
                switch pump.readAhead(network: network) {
                case .moved: continue
                case .wouldBlock where errno == EINTR: continue
                case .ended: return 0
                case .wouldBlock, .failed: return -1  // errno says which
                }
            }
        }
    }

    /// Like send(2) on a blocking socket, but all of `bytes` or -1 with errno set.
    func send(_ bytes: UnsafeRawBufferPointer) -> Int {
        sendLock.withLock { () -> Int in
            var offset = 0
            while true {
                let taken = engineLock.withLock { () -> Int? in
                    let taken = pump.encrypt(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
                    if let taken, offset + taken == bytes.count { pump.seal() }
                    return taken
                }
                guard let taken else {
                    errno = EPIPE
                    return -1
                }
                offset += taken
                if taken == 0 && !pump.hasGatheredRecords {
                    // Neither room nor records to make room with: the engine is stuck.
                    failure = "the TLS engine takes no more bytes"
                    errno = EPROTO
                    return -1
                }
                guard writeRecords() else { return -1 }
                if offset == bytes.count { return bytes.count }
            }
        }
    }

    /// Starts the closing exchange: close_notify goes out; the agent's last bytes can
    /// still be received.
    func close() {
        sendLock.withLock {
            engineLock.withLock { pump.close() }
            _ = writeRecords()
        }
    }

    /// Records the engine holds go out (an alert it made while receiving); nil: it holds
    /// none.
    private func sendRecords() -> Bool? {
        sendLock.withLock { () -> Bool? in
            engineLock.withLock { pump.hasPendingNetworkOutput } ? writeRecords() : nil
        }
    }

    /// With the send lock held: the engine's finished records, gathered and written.
    private func writeRecords() -> Bool {
        while true {
            let drained = engineLock.withLock { pump.gatherRecords() }
            while pump.hasGatheredRecords {
                switch pump.writeGathered(network: network) {
                case .moved: continue
                case .wouldBlock where errno == EINTR: continue
                case .wouldBlock, .failed, .ended: return false  // errno says which
                }
            }
            if drained { return true }
        }
    }

    /// For a caller that polls a descriptor and reads it as it is (a connection master):
    /// a thread takes over the session from here, between the network and a socketpair
    /// whose other end it returns. This channel is then unusable.
    func bridge() throws(ClientError) -> Int32 {
        guard let memory, let staging else { preconditionFailure("bridged twice") }
        let bridge = try TLSBridge(pump: pump, network: network, memory: memory, staging: staging)
        self.memory = nil
        self.staging = nil
        return bridge.connectionEnd
    }

    /// Until the engine says the handshake is over; a refusal the agent sent in cleartext
    /// (a Sutra error frame: full, or no TLS on that agent) is read and thrown as such.
    private static func handshake(_ pump: TLSPump, network: Int32, name: String,
                                  timeoutSeconds: Int) throws(ClientError) {
        let deadline = MonotonicClock.milliseconds() + Int64(timeoutSeconds) * 1000
        var answered = false  // the agent's first bytes have come: a ServerHello, or a refusal
        while true {
            if !answered {
                var first = [UInt8](repeating: 0, count: 2)
                let got = recv(network, &first, 2, Int32(MSG_PEEK))
                if got == 2 && first == Array("S2".utf8) { throw cleartextRefusal(network) }
                // One byte that may start "S2" waits for the next; the end of the stream
                // is the engine's to report.
                answered = got == 2 || got == 0 || (got == 1 && first[0] != UInt8(ascii: "S"))
            }
            // Until then the engine writes (its ClientHello) but reads nothing.
            pump.holdNetworkReads = !answered
            defer { pump.holdNetworkReads = false }
            switch pump.pump(network: network, bridge: -1, nowMs: MonotonicClock.milliseconds()) {
            case .established: return
            case .ended(let failure):
                throw .connect("TLS handshake with \(name) failed: \(failure ?? "closed") (does that agent take TLS?)")
            case .going: break
            }
            let left = deadline - MonotonicClock.milliseconds()
            guard left > 0 else { throw .connect("TLS handshake with \(name): no answer within \(timeoutSeconds) s") }
            var events: Int16 = 0
            if pump.wantsNetworkRead || !answered { events |= Int16(POLLIN) }
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

}
