import CSys
import CTLS
import DbgPlatform
import DbgWire

/// One TLS connection in the relay during its handshake: the network socket, the bridge
/// to its connection slot, and the engine between them (`TLSPump`; its context and
/// record buffers are a slot of the relay's pool). Once the handshake is over the network
/// socket goes back to the connection, and with it the session: the kernel's records
/// (kTLS), or the engine, lent to the connection until it closes.
final class TLSSession {
    /// What the relay writes on the bridge: a tag, the length of the client's key (0 or
    /// 65), its P-256 point (zeros without one) and the session's slot (u16, little
    /// endian), with the network socket along (SCM_RIGHTS). The connection reads it first
    /// (`Connection.TLSStage`); nothing else can write there.
    static let recordsTag: UInt8 = 0x52  // "R": the connection makes the records with the lent engine
    static let kernelTag: UInt8 = 0x4B  // "K": the kernel does (kTLS)
    static let preambleSize = 2 + Int(CTLS_P256_POINT) + 2

    let pump: TLSPump
    var network: FileDescriptor?
    var bridge: FileDescriptor?
    /// The network peer, for log lines.
    var peer = ""
    /// The connection served (its slot and generation in the agent's table).
    var owner: UInt64 = 0
    /// Bumped each time the slot is reused; stale events carry the old value.
    var generation: UInt32 = 0
    var networkInterest: Interest?
    var bridgeInterest: Interest?
    /// epoll reported a hang-up or an error the session could not act on yet: the
    /// descriptor is then watched only while there is something to do with it (or the
    /// level-triggered report would spin).
    var networkHungUp = false

    /// The slot's memory: the engine (ctls_session_size bytes), then the pump's staging:
    /// no bridge after the handshake, so 128 KiB of read-ahead.
    static var memoryBytes: Int { engineBytes + TLSPump.stagingSize(readAhead: readAhead, bridged: false) }
    private static var engineBytes: Int { (ctls_session_size() + 63) / 64 * 64 }
    private static let readAhead = 128 << 10

    init(memory: UnsafeMutableRawBufferPointer) {
        pump = TLSPump(engine: OpaquePointer(memory.baseAddress!),
                       staging: UnsafeMutableRawBufferPointer(rebasing: memory[TLSSession.engineBytes..<TLSSession.memoryBytes]),
                       readAhead: TLSSession.readAhead, bridged: false)
    }

    /// The connection holds the engine (the slot is taken, the relay keeps off it).
    var lent = false

    var isFree: Bool { network == nil && !lent }
    /// In the relay's hands: handshaking, or closing.
    var isActive: Bool { network != nil }

    /// Takes a connection handed over by the agent's loop. With kernel TLS the handshake
    /// is read record by record, so that nothing after it leaves the socket.
    func start(network: FileDescriptor, bridge: FileDescriptor, peer: String, owner: UInt64, kernelTLS: Bool) {
        self.network = network
        self.bridge = bridge
        self.peer = peer
        self.owner = owner
        networkInterest = nil
        bridgeInterest = nil
        networkHungUp = false
        pump.reset()
        pump.exactHandshake = kernelTLS
    }

    enum Step: Equatable {
        case going
        /// Over; a failure (a handshake that did not finish) is worth a log line.
        case ended(failure: String?)
        /// The connection has the socket back, and the engine when `lent`.
        case handedBack(lent: Bool)
    }

    /// Moves the handshake on. Once it is over, the socket goes back to the connection
    /// (`slot`: the session's, for it to name when it gives the engine back).
    func move(now: Milliseconds, kernelTLS: Bool, slot: Int) -> Step {
        guard let network, let bridge else { return .ended(failure: nil) }
        switch pump.pump(network: network.rawValue, bridge: bridge.rawValue, nowMs: Int64(now)) {
        case .going: return .going
        case .ended(let failure): return .ended(failure: failure)
        case .established: break
        }
        if kernelTLS && !pump.hasPendingNetworkOutput {
            switch ctls_kernel_offload(pump.engine, network.rawValue, 1) {
            case 0:
                return writePreamble(TLSSession.kernelTag, to: bridge, passing: network, slot: slot)
                    ? .handedBack(lent: false) : .ended(failure: "cannot hand the socket over")
            case -1: break  // not this suite: BearSSL's records
            default: return .ended(failure: "the kernel did not take the session's keys (kTLS): " + Errno.current.message)
            }
        }
        // The engine goes along, with what it read ahead and the records it still sends.
        lent = true
        guard writePreamble(TLSSession.recordsTag, to: bridge, passing: network, slot: slot) else {
            lent = false
            return .ended(failure: "cannot hand the socket over")
        }
        return .handedBack(lent: true)
    }

    /// The handshake's outcome, first on the bridge (a fresh socketpair takes it whole),
    /// with the network socket along.
    private func writePreamble(_ tag: UInt8, to bridge: FileDescriptor, passing socket: FileDescriptor, slot: Int) -> Bool {
        var preamble = [UInt8](repeating: 0, count: TLSSession.preambleSize)
        preamble[0] = tag
        if let key = pump.peerKey {
            preamble[1] = UInt8(key.count)
            preamble.replaceSubrange(2..<(2 + key.count), with: key)
        }
        preamble[TLSSession.preambleSize - 2] = UInt8(truncatingIfNeeded: slot)
        preamble[TLSSession.preambleSize - 1] = UInt8(truncatingIfNeeded: slot >> 8)
        let written = preamble.withUnsafeBytes { bytes in
            csys_send_with_descriptor(bridge.rawValue, bytes.baseAddress, bytes.count, socket.rawValue)
        }
        return written == TLSSession.preambleSize
    }

    /// What epoll should watch on each side.
    var wantedNetwork: Interest? {
        var wanted = Interest()
        if pump.wantsNetworkRead { wanted.insert(.readable) }
        if pump.wantsNetworkWrite { wanted.insert(.writable) }
        return wanted.isEmpty && (networkHungUp || pump.networkEnded) ? nil : wanted
    }

    /// The connection writes nothing on the bridge before the handshake's outcome, unless
    /// it is done with it (a handshake timeout): anything readable ends the session.
    var wantedBridge: Interest? { pump.bridgeEnded ? nil : .readable }
}
