import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A serial cable for tests and benchmarks: two PTY pairs joined by a thread that moves
/// bytes between their masters at a line rate (8N1: baud/10 bytes a second) and, when
/// asked, damages them: on average one byte in `errorEvery` has a bit flipped or is
/// dropped. The agent opens `agentDevice`, the client `clientDevice`, as they would a
/// UART.
public final class LineSimulator: @unchecked Sendable {
    public let agentDevice: String
    public let clientDevice: String
    public let baud: Int

    private let masters: [Int32]
    private let slaves: [Int32]
    private let lock = NSLock()
    private var errorEvery: Int
    /// Per direction (0: agent to client, 1: client to agent): everything is lost.
    private var cut = [false, false]
    private var running = true
    private var damagedBytes = 0
    private var carried = 0
    private let finished = DispatchSemaphore(value: 0)

    public init(baud: Int, errorEvery: Int = 0) throws {
        self.baud = baud
        self.errorEvery = errorEvery
        var masters: [Int32] = []
        var slaves: [Int32] = []
        var names: [String] = []
        for _ in 0..<2 {
            var master: Int32 = -1
            var slave: Int32 = -1
            var name = [CChar](repeating: 0, count: 128)
            guard openpty(&master, &slave, &name, nil, nil) == 0 else {
                throw NSError(domain: "LineSimulator", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "openpty failed"])
            }
            // Raw from the start: before the program sets its terminal up, nothing may be
            // echoed back onto the line.
            var settings = termios()
            tcgetattr(slave, &settings)
            cfmakeraw(&settings)
            tcsetattr(slave, TCSANOW, &settings)
            _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
            _ = fcntl(master, F_SETFD, FD_CLOEXEC)
            _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
            masters.append(master)
            slaves.append(slave)
            names.append(String(cString: name))
        }
        self.masters = masters
        self.slaves = slaves  // kept open: the PTYs stay up between programs
        agentDevice = names[0]
        clientDevice = names[1]
        Thread { [self] in run() }.start()
    }

    deinit { stop() }

    /// Changes the damage rate (0: a clean line).
    public func setErrorEvery(_ bytes: Int) { lock.withLock { errorEvery = bytes } }

    /// Loses every byte sent toward the agent (or toward the client) while set.
    public func cutTowardAgent(_ on: Bool) { lock.withLock { cut[1] = on } }
    public func cutTowardClient(_ on: Bool) { lock.withLock { cut[0] = on } }

    /// Bytes damaged (flipped or dropped) so far, and bytes carried in all.
    public var statistics: (damaged: Int, carried: Int) { lock.withLock { (damagedBytes, carried) } }

    public func stop() {
        let wasRunning = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        guard wasRunning else { return }
        finished.wait()
        for fd in masters + slaves { close(fd) }
    }

    private func run() {
        defer { finished.signal() }
        var random = SystemRandomNumberGenerator()
        var pending: [[UInt8]] = [[], []]  // per direction: read, not yet written
        var credit: [Double] = [0, 0]
        let bytesPerSecond = Double(baud) / 10
        var last = DispatchTime.now().uptimeNanoseconds
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while lock.withLock({ running }) {
            usleep(1000)
            let now = DispatchTime.now().uptimeNanoseconds
            let elapsed = Double(now - last) / 1e9
            last = now
            let (every, lost) = lock.withLock { (errorEvery, cut) }
            for direction in 0..<2 {
                let (from, to) = (masters[direction], masters[1 - direction])
                // The line carries at most its rate; what it cannot take stays in the
                // sender's PTY, as in a UART's buffer.
                credit[direction] = min(credit[direction] + elapsed * bytesPerSecond, max(64, bytesPerSecond / 100))
                let allowed = Int(credit[direction])
                if allowed > 0 && pending[direction].count < 64 << 10 {
                    let got = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, min(allowed, $0.count)) }
                    if got > 0 {
                        credit[direction] -= Double(got)
                        var damaged = 0
                        for byte in buffer[0..<got] where !lost[direction] {
                            if every > 0 && Int.random(in: 0..<every, using: &random) == 0 {
                                damaged += 1
                                if Bool.random(using: &random) { continue }  // dropped
                                pending[direction].append(byte ^ UInt8(1 << Int.random(in: 0..<8, using: &random)))
                            } else {
                                pending[direction].append(byte)
                            }
                        }
                        lock.withLock {
                            damagedBytes += damaged
                            carried += got
                        }
                    }
                }
                if !pending[direction].isEmpty {
                    let written = pending[direction].withUnsafeBytes { write(to, $0.baseAddress, $0.count) }
                    if written > 0 { pending[direction].removeFirst(written) }
                }
            }
        }
    }
}
