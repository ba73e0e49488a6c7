import CTLS
import DbgPlatform
import DbgWire
import Glibc

/// A TLS session on a thread of its own, for a caller that polls a descriptor and reads
/// it as it is (a connection master): the thread runs the engine (`TLSPump`) between the
/// TCP socket and one end of a socketpair; the other end is the caller's.
final class TLSBridge: @unchecked Sendable {
    /// The caller's end of the socketpair.
    let connectionEnd: Int32
    private let bridgeEnd: Int32
    private let network: Int32
    private let memory: UnsafeMutableRawPointer
    private let staging: UnsafeMutableRawBufferPointer
    private let pump: TLSPump

    /// Takes over an established session: `pump`, its memory and `network`, which it
    /// closes when done (on failure, the caller still owns them).
    init(pump: TLSPump, network: Int32, memory: UnsafeMutableRawPointer,
         staging: UnsafeMutableRawBufferPointer) throws(ClientError) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            throw .connect("cannot set up the TLS thread: \(describe(errno))")
        }
        (self.pump, self.network, self.memory, self.staging) = (pump, network, memory, staging)
        connectionEnd = ends[0]
        bridgeEnd = ends[1]
        _ = fcntl(bridgeEnd, F_SETFL, fcntl(bridgeEnd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(network, F_SETFL, fcntl(network, F_GETFL) | O_NONBLOCK)
        startThread { [self] in run() }
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
