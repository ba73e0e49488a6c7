import CSys
import CTLS
import DbgPlatform
import DbgWire

/// TLS for network connections, on a thread of its own. The agent's loop hands over a
/// connection whose first byte is a ClientHello (`take`): the relay keeps the network
/// socket, and the connection slot gets one end of a socketpair instead, as a serial
/// line's bridge does, so every service, splice and the outbox work unchanged. The
/// relay's own epoll loop runs the handshakes (ECDH and signatures are CPU work the
/// agent's loop must not wait for) and moves records: socket ⇄ BearSSL ⇄ bridge.
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
    /// Arrivals from the agent's loop.
    private let arrivals: WakeupQueue<Arrival>
    private var networkKind = EventToken.Kind.none
    private var bridgeKind = EventToken.Kind.none
    /// Failed handshakes come in floods (scanners, a storm of clients): summarised.
    private var failures = RateLimitedLog(intervalMs: 1000)

    private struct Arrival {
        var network: Int32
        var bridge: Int32
        var peer: String
    }

    init(identity: AgentIdentity, capacity: Int) throws(StartupError) {
        self.identity = identity
        kernelTLS = TLSRelay.kernelOffersTLS()
        do throws(Errno) {
            loop = try EventLoop()
            pool = try SlotPool(slotSize: TLSSession.memoryBytes, slotCount: capacity)
            arrivals = try WakeupQueue(capacity: capacity)
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
    func take(_ network: FileDescriptor, peer: String) -> FileDescriptor? {
        var ends: [Int32] = [-1, -1]
        guard csys_socketpair(&ends) == 0 else { return nil }
        let copy = csys_dup_cloexec(network.rawValue)
        guard copy >= 0 && arrivals.push(Arrival(network: copy, bridge: ends[1], peer: peer)) else {
            if copy >= 0 { FileDescriptor(copy).close() }
            FileDescriptor(ends[0]).close()
            FileDescriptor(ends[1]).close()
            return nil
        }
        return FileDescriptor(ends[0])
    }

    // MARK: The relay's thread

    private func run() {
        while true {
            do throws(Errno) {
                try loop.poll(timeoutMs: nextDeadline()) {}
            } catch {
                if error != Errno(CSYS_EINTR) { Log.info("TLS relay: epoll_wait failed: \(error.message)") }
            }
            expire(now: MonotonicClock.now())
        }
    }

    private func takeArrivals() { arrivals.drain(start) }

    private func start(_ arrival: Arrival) {
        let certificate = identity.certificate.der
        guard let index = sessions.firstIndex(where: { $0.isFree }),
              ctls_server_start(sessions[index].pump.engine, certificate, certificate.count, identity.secret) == 0 else {
            failures.note("TLS: no session free for \(arrival.peer) (every one is closing); connection closed")
            FileDescriptor(arrival.network).close()
            FileDescriptor(arrival.bridge).close()
            return
        }
        sessions[index].start(network: FileDescriptor(arrival.network), bridge: FileDescriptor(arrival.bridge), peer: arrival.peer,
                              kernelTLS: kernelTLS)
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

    private func bridgeReady(_ token: EventToken, _ readiness: Readiness) {
        guard let session = live(token), let bridge = session.bridge else { return }
        if readiness.readable && !session.pump.established {
            session.pump.endBridge(nowMs: Int64(MonotonicClock.now()))  // the connection gave up on it
        } else if readiness.readable && session.bridgeInterest?.contains(.readable) != true {
            var byte: UInt8 = 0
            let got = csys_peek_byte(bridge.rawValue, &byte)
            if got == 0 || (got < 0 && Errno.current != .wouldBlock) {
                session.pump.endBridge(nowMs: Int64(MonotonicClock.now()))
            } else {
                session.bridgeHungUp = true
            }
        }
        pump(Int(token.index))
    }

    /// The session a token is about, unless it ended (and maybe restarted) since.
    private func live(_ token: EventToken) -> TLSSession? {
        let index = Int(token.index)
        guard index < sessions.count, !sessions[index].isFree, sessions[index].generation == token.generation else { return nil }
        return sessions[index]
    }

    private func pump(_ index: Int) {
        let session = sessions[index]
        if let end = session.move(now: MonotonicClock.now(), kernelTLS: kernelTLS) { return finish(index, failure: end) }
        let token = EventToken(networkKind, index: UInt32(index), generation: session.generation)
        if let network = session.network {
            session.networkInterest = loop.update(network, from: session.networkInterest, to: session.wantedNetwork, token)
        }
        if let bridge = session.bridge {
            session.bridgeInterest = loop.update(bridge, from: session.bridgeInterest, to: session.wantedBridge,
                                                 EventToken(bridgeKind, index: UInt32(index), generation: session.generation))
        }
    }

    private func finish(_ index: Int, failure: String?) {
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
        pool.release(index)
    }

    /// Sessions whose close_notify could not go out within the linger time.
    private func expire(now: Milliseconds) {
        for index in sessions.indices where !sessions[index].isFree {
            if let until = sessions[index].pump.closingUntil, now >= until { finish(index, failure: nil) }
        }
    }

    private func nextDeadline() -> Int32 {
        var next: Milliseconds?
        for session in sessions where !session.isFree {
            if let until = session.pump.closingUntil.map({ Milliseconds($0) }), next == nil || until < next! { next = until }
        }
        guard let next else { return -1 }
        return Int32(clamping: max(0, next - MonotonicClock.now()))
    }
}
