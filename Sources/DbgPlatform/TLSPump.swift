import CSys
import CTLS

/// A TLS engine (BearSSL, through CTLS) between a network socket and a bridge: one end of
/// a socketpair whose other end is served, or read, as a plain connection. The agent's
/// relay and the client both run one per TLS connection. `pump` moves records and
/// application bytes while they move, without blocking; the wanted* properties say what
/// to wait for next. The engine's memory (ctls_session_size bytes) is the caller's.
public final class TLSPump {
    public let engine: OpaquePointer
    /// The handshake is over: application bytes flow.
    public private(set) var established = false
    /// The peer closed its sending side.
    public private(set) var networkEnded = false
    /// The bridge's other end closed its sending side (or the whole bridge).
    public private(set) var bridgeEnded = false
    /// The bridge's write side is shut: its other end has read the peer's last byte.
    public private(set) var bridgeShut = false
    /// close_notify is on its way (the inline `close`).
    public internal(set) var closeSent = false
    /// Application bytes taken in since the last record went out.
    private var unflushed = false
    /// Once the bridge ended: when to give up on sending close_notify.
    public private(set) var closingUntil: Int64?
    /// How long a closing connection may take to send its close_notify.
    public static let closingMs: Int64 = 2_000
    /// The caller's memory for the buffers below: the read-ahead, 64 KiB of gathered
    /// records, and with a bridge 64 KiB of gathered decrypted bytes.
    public static func stagingSize(readAhead: Int, bridged: Bool) -> Int { readAhead + (bridged ? 2 : 1) * gatherSize }
    private static let gatherSize = 64 << 10
    /// Network bytes read ahead of the engine (which asks for each record's 5-byte header,
    /// then its body): one read takes what arrived, several records at a time.
    let staged: UnsafeMutableRawBufferPointer
    /// Records for the network, and decrypted bytes for the bridge, gathered.
    var toNetwork: GatheredOutput
    private var toBridge: GatheredOutput
    var stagedStart = 0
    var stagedEnd = 0
    /// In this pump, a read came back short: the socket is drained, and another read
    /// would only say EAGAIN. (epoll says when more arrives.)
    private var networkDry = false
    private var bridgeDry = false
    /// Until the handshake is over, read only the records the engine asks for, so that
    /// nothing after it is taken out of the socket: the kernel can then take over the
    /// records (kTLS) from the next one on.
    public var exactHandshake = false
    /// The network is not read while this is set (records are still written): a client
    /// looks at the agent's first bytes itself before the engine takes them (a refusal
    /// in cleartext).
    public var holdNetworkReads = false

    /// `staging` (`stagingSize` bytes) is the caller's, like the engine's memory. The
    /// larger the read-ahead, the fewer reads (and window updates) a transfer takes.
    public init(engine: OpaquePointer, staging: UnsafeMutableRawBufferPointer, readAhead: Int, bridged: Bool) {
        self.engine = engine
        let gathered = readAhead + TLSPump.gatherSize
        staged = UnsafeMutableRawBufferPointer(rebasing: staging[0..<readAhead])
        toNetwork = GatheredOutput(UnsafeMutableRawBufferPointer(rebasing: staging[readAhead..<gathered]))
        toBridge = GatheredOutput(UnsafeMutableRawBufferPointer(rebasing: staging[gathered..<(bridged ? gathered + TLSPump.gatherSize : gathered)]))
    }

    /// For the engine's next connection (after ctls_server_start or ctls_client_start).
    public func reset() {
        established = false
        networkEnded = false
        bridgeEnded = false
        bridgeShut = false
        closeSent = false
        unflushed = false
        closingUntil = nil
        stagedStart = 0
        stagedEnd = 0
        toNetwork = GatheredOutput(toNetwork.memory)
        toBridge = GatheredOutput(toBridge.memory)
    }

    public enum Outcome: Equatable {
        case going
        /// The handshake finished during this pump: the caller may write on the bridge
        /// first (the agent's preamble) and pumps again.
        case established
        /// Over. A failure is worth a log line (a handshake that did not finish).
        case ended(failure: String?)
    }

    func has(_ bit: Int) -> Bool { UInt32(ctls_state(engine)) & UInt32(bit) != 0 }

    /// Moves what can move (bounded, so one busy connection cannot starve others).
    public func pump(network: Int32, bridge: Int32, nowMs: Int64) -> Outcome {
        networkDry = false
        bridgeDry = false
        for _ in 0..<64 {
            if has(CTLS_CLOSED) {
                // The last records (an alert) and the last decrypted bytes still go out;
                // the bridge's bytes are waited for, as they are the peer's data.
                _ = toNetwork.flush(to: network)
                if !toBridge.isEmpty, case .wouldBlock = toBridge.flush(to: bridge) { return .going }
                let error = ctls_error(engine)
                return .ended(failure: error == 0 || established ? nil : String(cString: ctls_error_message(error)))
            }
            var moved = false
            if has(CTLS_SENDREC) {
                var length = 0
                let records = ctls_sendrec(engine, &length)
                switch toNetwork.take(records!, length, orFlushTo: network) {
                case .taken: ctls_sendrec_ack(engine, length); moved = true
                case .flushed: moved = true
                case .wouldBlock: break
                case .failed: return end("the connection failed while sending")
                }
            }
            if has(CTLS_RECVREC) && !networkEnded {
                var length = 0
                let exact = exactHandshake && !established ? ctls_recvrec(engine, &length) : nil
                if stagedStart == stagedEnd && !networkDry && !holdNetworkReads {
                    let into = exact.map { UnsafeMutableRawPointer($0) } ?? staged.baseAddress
                    switch Transfer(read(network, into, exact == nil ? staged.count : length)) {
                    case .moved(let count) where exact != nil:
                        ctls_recvrec_ack(engine, count)
                        networkDry = count < length
                        moved = true
                    case .moved(let count):
                        (stagedStart, stagedEnd) = (0, count)
                        networkDry = count < staged.count
                    case .wouldBlock: networkDry = true
                    case .ended:
                        networkEnded = true
                        if !established { return .ended(failure: "the peer closed the connection during the handshake") }
                        moved = true
                    case .failed: return end("the connection failed while receiving")
                    }
                }
                if feedStaged() { moved = true }
            }
            if !established && (has(CTLS_SENDAPP) || has(CTLS_RECVAPP)) {
                established = true
                // The handshake's last records leave now (the kernel may take over next).
                if case .failed = toNetwork.flush(to: network) { return end("the connection failed while sending") }
                return .established
            }
            if established && has(CTLS_RECVAPP) && !bridgeShut {
                var length = 0
                let bytes = ctls_recvapp(engine, &length)
                switch toBridge.take(bytes!, length, orFlushTo: bridge) {
                case .taken: ctls_recvapp_ack(engine, length); moved = true
                case .flushed: moved = true
                case .wouldBlock: break
                case .failed: return .ended(failure: nil)  // the bridge's other end is gone
                }
            }
            if established && has(CTLS_SENDAPP) && !bridgeEnded {
                var length = 0
                let room = ctls_sendapp(engine, &length)
                switch bridgeDry ? .wouldBlock : Transfer(read(bridge, room, length)) {
                case .moved(let count):
                    ctls_sendapp_ack(engine, count)
                    unflushed = true
                    bridgeDry = count < length
                    moved = true
                case .wouldBlock:
                    bridgeDry = true
                    if unflushed {
                        // What arrived so far goes out as a record now.
                        ctls_flush(engine)
                        unflushed = false
                        moved = true
                    }
                case .ended, .failed:
                    endBridge(nowMs: nowMs)
                    moved = true
                }
            }
            if !moved {
                // Nothing more to gather: what is gathered goes out.
                if !toNetwork.isEmpty, case .moved = toNetwork.flush(to: network) { moved = true }
                if !toBridge.isEmpty {
                    switch toBridge.flush(to: bridge) {
                    case .moved: moved = true
                    case .wouldBlock: break
                    case .ended, .failed: return .ended(failure: nil)
                    }
                }
                if !moved { break }
            }
        }
        return settle(bridge: bridge, nowMs: nowMs)
    }

    /// Hands bytes read ahead to the engine, as many as its current record wants.
    func feedStaged() -> Bool {
        guard stagedStart < stagedEnd else { return false }
        var length = 0
        guard let room = ctls_recvrec(engine, &length) else { return false }
        let count = min(length, stagedEnd - stagedStart)
        UnsafeMutableRawPointer(room).copyMemory(from: staged.baseAddress! + stagedStart, byteCount: count)
        ctls_recvrec_ack(engine, count)
        stagedStart += count
        return true
    }

    /// Records the engine made that have not reached the socket yet.
    public var hasPendingNetworkOutput: Bool { has(CTLS_SENDREC) || !toNetwork.isEmpty }

    /// A failure during the handshake is logged; after it, the connection simply ended.
    private func end(_ failure: String) -> Outcome { .ended(failure: established ? nil : failure) }

    /// The ends of the exchange, once bytes stopped moving.
    private func settle(bridge: Int32, nowMs: Int64) -> Outcome {
        if bridgeEnded {
            // The handshake, if unfinished, is abandoned; else close_notify goes out, for
            // as long as the closing time allows.
            if !established || !hasPendingNetworkOutput { return .ended(failure: nil) }
            if let until = closingUntil, nowMs >= until { return .ended(failure: nil) }
            return .going
        }
        if networkEnded && !has(CTLS_RECVAPP) && toBridge.isEmpty && !bridgeShut {
            // The bridge's reader sees the end of the peer's stream after its last byte.
            _ = shutdown(bridge, CSYS_SHUT_WR)
            bridgeShut = true
        }
        return .going
    }

    /// The bridge's other end is done sending (or gone): close_notify follows.
    public func endBridge(nowMs: Int64) {
        guard !bridgeEnded else { return }
        bridgeEnded = true
        unflushed = false
        if established {
            ctls_close(engine)
            closingUntil = nowMs + TLSPump.closingMs
        }
    }

    /// The peer hung up (seen while not reading the socket).
    public func endNetwork() { networkEnded = true }

    public var wantsNetworkRead: Bool { has(CTLS_RECVREC) && !networkEnded }
    public var wantsNetworkWrite: Bool { hasPendingNetworkOutput }
    public var wantsBridgeRead: Bool { established && !bridgeEnded && has(CTLS_SENDAPP) }
    public var wantsBridgeWrite: Bool { !toBridge.isEmpty || (established && !bridgeShut && has(CTLS_RECVAPP)) }

    /// The peer's key (its P-256 point), once its certificate has been read.
    public var peerKey: [UInt8]? {
        var point = [UInt8](repeating: 0, count: Int(CTLS_P256_POINT))
        return ctls_peer_key(engine, &point) == 1 ? point : nil
    }
}
