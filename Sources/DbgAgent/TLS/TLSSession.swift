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

    /// Takes a connection handed over by the agent's loop.
    func start(network: FileDescriptor, bridge: FileDescriptor, peer: String) {
        self.network = network
        self.bridge = bridge
        self.peer = peer
        networkInterest = nil
        bridgeInterest = nil
        networkHungUp = false
        bridgeHungUp = false
        pump.reset()
    }

    /// Moves what can move; nil while the session goes on, else why it ended (a failed
    /// handshake's reason, or nil).
    func move(now: Milliseconds) -> String?? {
        guard let network, let bridge else { return .some(nil) }
        while true {
            switch pump.pump(network: network.rawValue, bridge: bridge.rawValue, nowMs: Int64(now)) {
            case .going: return nil
            case .ended(let failure): return .some(failure)
            case .established: guard writePreamble(to: bridge) else { return .some(nil) }
            }
        }
    }

    /// The handshake's outcome, first on the bridge (a fresh socketpair takes it whole).
    private func writePreamble(to bridge: FileDescriptor) -> Bool {
        var preamble = [UInt8](repeating: 0, count: TLSSession.preambleSize)
        preamble[0] = TLSSession.preambleTag
        if let key = pump.peerKey {
            preamble[1] = UInt8(key.count)
            preamble.replaceSubrange(2..<(2 + key.count), with: key)
        }
        let written = preamble.withUnsafeBytes { try? bridge.write($0) }
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
