import CSys
import CTLS
import DbgPlatform
import DbgWire

/// One TLS connection in the relay: the network socket, the bridge to its connection
/// slot, and the engine between them (`TLSPump`; its context and record buffers are a
/// slot of the relay's pool).
final class TLSSession {
    /// What the relay writes on the bridge before the first decrypted byte: a tag, the
    /// length of the client's key (0 or 65) and its P-256 point (zeros without one). The
    /// connection reads it first (`Connection.TLSStage`); nothing else can write there.
    static let preambleTag: UInt8 = 0x54  // "T"
    /// The same, when the kernel took over the records: the socket comes along (SCM_RIGHTS).
    static let kernelPreambleTag: UInt8 = 0x4B  // "K"
    static let preambleSize = 2 + Int(CTLS_P256_POINT)

    let pump: TLSPump
    var network: FileDescriptor?
    var bridge: FileDescriptor?
    /// The network peer, for log lines.
    var peer = ""
    /// Bumped each time the slot is reused; stale events carry the old value.
    var generation: UInt32 = 0
    var networkInterest: Interest?
    var bridgeInterest: Interest?
    /// epoll reported a hang-up or an error the session could not act on yet: the
    /// descriptor is then watched only while there is something to do with it (or the
    /// level-triggered report would spin).
    var networkHungUp = false
    var bridgeHungUp = false

    /// The slot's memory: the engine (ctls_session_size bytes), then the pump's staging.
    static var memoryBytes: Int { engineBytes + TLSPump.stagingSize }
    private static var engineBytes: Int { (ctls_session_size() + 63) / 64 * 64 }

    init(memory: UnsafeMutableRawBufferPointer) {
        pump = TLSPump(engine: OpaquePointer(memory.baseAddress!),
                       staging: UnsafeMutableRawBufferPointer(rebasing: memory[TLSSession.engineBytes..<TLSSession.memoryBytes]))
    }

    var isFree: Bool { network == nil }

    /// Takes a connection handed over by the agent's loop. With kernel TLS the handshake
    /// is read record by record, so that nothing after it leaves the socket.
    func start(network: FileDescriptor, bridge: FileDescriptor, peer: String, kernelTLS: Bool) {
        self.network = network
        self.bridge = bridge
        self.peer = peer
        networkInterest = nil
        bridgeInterest = nil
        networkHungUp = false
        bridgeHungUp = false
        pump.reset()
        pump.exactHandshake = kernelTLS
    }

    /// Moves what can move; nil while the session goes on, else why it ended (a failed
    /// handshake's reason, or nil). With kernel TLS the session ends right after the
    /// handshake: the connection gets the socket itself, its records the kernel's.
    func move(now: Milliseconds, kernelTLS: Bool) -> String?? {
        guard let network, let bridge else { return .some(nil) }
        while true {
            switch pump.pump(network: network.rawValue, bridge: bridge.rawValue, nowMs: Int64(now)) {
            case .going: return nil
            case .ended(let failure): return .some(failure)
            case .established:
                if kernelTLS && !pump.hasPendingNetworkOutput {
                    switch ctls_kernel_offload(pump.engine, network.rawValue, 1) {
                    case 0: return .some(writePreamble(to: bridge, passing: network) ? nil : "cannot hand the socket over")
                    case -1: break  // not this suite: BearSSL's records
                    default: return .some("the kernel did not take the session's keys (kTLS): " + Errno.current.message)
                    }
                }
                guard writePreamble(to: bridge, passing: nil) else { return .some(nil) }
            }
        }
    }

    /// The handshake's outcome, first on the bridge (a fresh socketpair takes it whole),
    /// with the network socket along when the kernel does the records.
    private func writePreamble(to bridge: FileDescriptor, passing socket: FileDescriptor?) -> Bool {
        var preamble = [UInt8](repeating: 0, count: TLSSession.preambleSize)
        preamble[0] = socket == nil ? TLSSession.preambleTag : TLSSession.kernelPreambleTag
        if let key = pump.peerKey {
            preamble[1] = UInt8(key.count)
            preamble.replaceSubrange(2..<(2 + key.count), with: key)
        }
        let written = preamble.withUnsafeBytes { bytes in
            guard let socket else { return (try? bridge.write(bytes)) ?? -1 }
            return csys_send_with_descriptor(bridge.rawValue, bytes.baseAddress, bytes.count, socket.rawValue)
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

    var wantedBridge: Interest? {
        if pump.bridgeEnded { return nil }
        // The connection writes nothing before the handshake's outcome, unless it is
        // done with it (a handshake timeout): anything readable ends the session.
        if !pump.established { return .readable }
        var wanted = Interest()
        if pump.wantsBridgeRead { wanted.insert(.readable) }
        if pump.wantsBridgeWrite { wanted.insert(.writable) }
        return wanted.isEmpty && bridgeHungUp ? nil : wanted
    }
}
