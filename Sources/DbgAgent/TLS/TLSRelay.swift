import CSys
import CTLS
import DbgPlatform
import DbgWire

/// TLS handshakes for network connections, on a thread of their own: ECDH and signatures
/// are CPU work the agent's loop must not wait for. The agent's loop hands over a
/// connection whose first byte is a ClientHello (`take`): the relay takes the network
/// socket, and the connection slot waits on one end of a socketpair for the outcome.
/// Once the handshake is over the socket goes back to the connection with the session:
/// its keys given to the kernel (kTLS), or the engine itself, lent to the connection,
/// which then makes and reads the records on the loop (no socketpair and no thread in
/// between: fewer copies and wake-ups than the encryption costs). A connection handed
/// over says when it closes (`closed`), and the relay frees its session.
/// Its sessions are a fixed table, their engines and record buffers one mapping made at
/// start-up; a connection slot holds at most one, so the table never runs out.
final class TLSRelay: @unchecked Sendable {
    static let stackSize = 256 << 10

    let identity: AgentIdentity
    /// The kernel offers TLS (`tls` in tcp_available_ulp): after each handshake it takes
    /// the records, and the connection its socket (splice and sendfile keep working).
    let kernelTLS: Bool
    private let loop: EventLoop
    private let pool: SlotPool
    private let sessions: [TLSSession]
    /// Arrivals and connections that closed, from the agent's loop. Half of it is kept
    /// for the latter: one per connection handed over, which must never be refused.
    private let arrivals: WakeupQueue<Arrival>
    private var networkKind = EventToken.Kind.none
    private var bridgeKind = EventToken.Kind.none
    /// Failed handshakes come in floods (scanners, a storm of clients): summarised.
    private var failures = RateLimitedLog(intervalMs: 1000)

    private enum Arrival {
        case connection(network: Int32, bridge: Int32, peer: String, owner: UInt64)
        /// A connection handed over closed: its session (lent, or still handshaking, or
        /// already ended) is the relay's to free.
        case closed(owner: UInt64)
    }

    init(identity: AgentIdentity, capacity: Int) throws(StartupError) {
        self.identity = identity
        kernelTLS = TLSRelay.kernelOffersTLS()
        do throws(Errno) {
            loop = try EventLoop()
            pool = try SlotPool(slotSize: TLSSession.memoryBytes, slotCount: capacity)
            arrivals = try WakeupQueue(capacity: 2 * capacity)
        } catch {
            throw StartupError("cannot set up TLS: \(error.message)")
        }
        var sessions: [TLSSession] = []
        for index in 0..<capacity { sessions.append(TLSSession(memory: pool.slot(index))) }
        self.sessions = sessions
        networkKind = loop.register { token, readiness in self.networkReady(token, readiness) }
        bridgeKind = loop.register { token, readiness in self.bridgeReady(token, readiness) }
        let intake = loop.register { _, _ in self.takeArrivals() }
        do throws(Errno) {
            try loop.add(arrivals.wakeup, .readable, EventToken(intake))
            try startThread(stackSize: TLSRelay.stackSize) { self.run() }
        } catch {
            throw StartupError("cannot start the TLS thread: \(error.message)")
        }
    }

    static let ulpList = "/proc/sys/net/ipv4/tcp_available_ulp"

    private static func kernelOffersTLS() -> Bool {
        var found = false
        try? TextFile.forEachLine(ulpList) { line in
            found = line.split(separator: UInt8(ascii: " ")).contains { $0.elementsEqual("tls".utf8) }
            return !found
        }
        return found
    }

    /// The memory the sessions may use (committed only while they are used).
    var budgetBytes: Int { pool.totalBytes }
    var capacity: Int { sessions.count }

    /// On the agent's loop: the relay takes over a connection's network socket (a
    /// duplicate; the caller closes its own). Returns the descriptor the connection
    /// serves instead, or nil when that cannot be set up (the connection then closes).
    /// `owner` names the connection (its slot and generation) for `closed`.
    func take(_ network: FileDescriptor, peer: String, owner: UInt64) -> FileDescriptor? {
        var ends: [Int32] = [-1, -1]
        guard csys_socketpair(&ends) == 0 else { return nil }
        let copy = csys_dup_cloexec(network.rawValue)
        guard copy >= 0,
              arrivals.push(.connection(network: copy, bridge: ends[1], peer: peer, owner: owner), keepingFree: sessions.count) else {
            if copy >= 0 { FileDescriptor(copy).close() }
            FileDescriptor(ends[0]).close()
            FileDescriptor(ends[1]).close()
            return nil
        }
        return FileDescriptor(ends[0])
    }

    /// On the agent's loop: the engine lent to a connection (its preamble named the slot).
    func lentPump(slot: Int, owner: UInt64) -> TLSPump? {
        guard slot >= 0, slot < sessions.count, sessions[slot].lent, sessions[slot].owner == owner else { return nil }
        return sessions[slot].pump
    }

    /// On the agent's loop: a connection handed over (`take`) closed. Whatever the relay
    /// had sent it (a preamble it may never have read, a lent engine) is taken back.
    /// Arrivals leave half the queue free, and each connection sends this once.
    func closed(owner: UInt64) {
        let queued = arrivals.push(.closed(owner: owner))
        precondition(queued, "the TLS relay's queue keeps room for every connection's close")
    }

    // MARK: The relay's thread

    private func run() {
        while true {
            do throws(Errno) {
                try loop.poll(timeoutMs: -1) {}
            } catch {
                if error != Errno(CSYS_EINTR) { Log.info("TLS relay: epoll_wait failed: \(error.message)") }
            }
        }
    }

    private func takeArrivals() {
        arrivals.drain { arrival in
            switch arrival {
            case .connection(let network, let bridge, let peer, let owner):
                start(network: network, bridge: bridge, peer: peer, owner: owner)
            case .closed(let owner):
                guard let index = sessions.firstIndex(where: { !$0.isFree && $0.owner == owner }) else { return }
                if sessions[index].lent {
                    sessions[index].lent = false
                    pool.release(index)
                } else {
                    finish(index, failure: nil)  // the handshake was abandoned
                }
            }
        }
    }

    private func start(network: Int32, bridge: Int32, peer: String, owner: UInt64) {
        let certificate = identity.certificate.der
        guard let index = sessions.firstIndex(where: { $0.isFree }),
              ctls_server_start(sessions[index].pump.engine, certificate, certificate.count, identity.secret) == 0 else {
            failures.note("TLS: no session free for \(peer); connection closed")
            FileDescriptor(network).close()
            FileDescriptor(bridge).close()
            return
        }
        sessions[index].start(network: FileDescriptor(network), bridge: FileDescriptor(bridge), peer: peer,
                              owner: owner, kernelTLS: kernelTLS)
        pump(index)
    }

    private func networkReady(_ token: EventToken, _ readiness: Readiness) {
        guard let session = live(token), let network = session.network else { return }
        if readiness.readable && session.networkInterest?.contains(.readable) != true {
            // A hang-up or an error, reported whatever the interest.
            var byte: UInt8 = 0
            let got = csys_peek_byte(network.rawValue, &byte)
            if got == 0 {
                session.pump.endNetwork()
            } else if got < 0 && Errno.current != .wouldBlock {
                return finish(Int(token.index), failure: nil)
            } else {
                session.networkHungUp = true
            }
        }
        pump(Int(token.index))
    }

    /// The connection gave up on the handshake (its timeout): the bridge closed.
    private func bridgeReady(_ token: EventToken, _ readiness: Readiness) {
        guard let session = live(token) else { return }
        session.pump.endBridge(nowMs: Int64(MonotonicClock.now()))
        pump(Int(token.index))
    }

    /// The session a token is about, unless it ended (and maybe restarted) since.
    private func live(_ token: EventToken) -> TLSSession? {
        let index = Int(token.index)
        guard index < sessions.count, sessions[index].isActive, sessions[index].generation == token.generation else { return nil }
        return sessions[index]
    }

    private func pump(_ index: Int) {
        let session = sessions[index]
        switch session.move(now: MonotonicClock.now(), kernelTLS: kernelTLS, slot: index) {
        case .going: break
        case .ended(let failure): return finish(index, failure: failure)
        case .handedBack(let lent): return finish(index, failure: nil, keepingSlot: lent)
        }
        let token = EventToken(networkKind, index: UInt32(index), generation: session.generation)
        if let network = session.network {
            session.networkInterest = loop.update(network, from: session.networkInterest, to: session.wantedNetwork, token)
        }
        if let bridge = session.bridge {
            session.bridgeInterest = loop.update(bridge, from: session.bridgeInterest, to: session.wantedBridge,
                                                 EventToken(bridgeKind, index: UInt32(index), generation: session.generation))
        }
    }

    /// The relay is done with a session; its slot stays taken while its engine is lent.
    private func finish(_ index: Int, failure: String?, keepingSlot: Bool = false) {
        let session = sessions[index]
        if let failure { failures.note("TLS handshake with \(session.peer) failed: \(failure)") }
        if let network = session.network {
            loop.remove(network)
            network.close()
        }
        if let bridge = session.bridge {
            loop.remove(bridge)
            bridge.close()
        }
        session.network = nil
        session.bridge = nil
        session.generation &+= 1
        if !keepingSlot { pool.release(index) }
    }
}
