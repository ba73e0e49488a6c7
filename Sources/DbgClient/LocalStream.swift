import Glibc

/// The local socket of one forwarded stream and its two threads: the reader sends what
/// the socket gives while the agent's window allows (and StreamClose at its end), the
/// writer writes what the agent sent and acknowledges it (and shuts the socket's sending
/// half at StreamEnded). The socket closes once both are done.
///
/// While the writer has nothing in hand, the receiving thread writes StreamReceived
/// bytes to the socket itself, without waiting (MSG_DONTWAIT): a socket that keeps up
/// costs no copy and no thread switch; what it does not take goes to the writer.
final class LocalStream: @unchecked Sendable {
    private unowned let mux: StreamMux
    let id: UInt32
    /// The local socket, from `start` on.
    private var fd: Int32 = -1
    private let condition = Condition()
    /// StreamSend bytes the agent takes now.
    private var credit: Int
    /// StreamReceived bytes not yet written to the socket.
    private var queue: [[UInt8]] = []
    /// The writer is writing what it took from `queue`.
    private var writing = false
    /// Written to the socket, not yet acknowledged.
    private var unacknowledged = 0
    private var remoteEnd = false
    private var closed = false
    private var failure: String?
    private var running = 2
    private var done: @Sendable (String?) -> Void = { _ in }

    init(mux: StreamMux, id: UInt32, credit: Int) {
        self.mux = mux
        self.id = id
        self.credit = credit
    }

    /// Relays from now on (what arrived before waited in the queue).
    func start(fd: Int32, done: @escaping @Sendable (String?) -> Void) {
        condition.withLock {
            self.fd = fd
            self.done = done
        }
        startThread { [self] in
            readSocket()
            finished()
        }
        startThread { [self] in
            writeSocket()
            finished()
        }
    }

    // MARK: From the receiving thread

    /// StreamReceived bytes (valid only during the call).
    func received(_ bytes: UnsafeRawBufferPointer) {
        condition.withLock {
            var rest = bytes
            if queue.isEmpty, !writing, fd >= 0, !closed, !rest.isEmpty {
                let written = send(fd, rest.baseAddress!, rest.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if written > 0 {
                    unacknowledged += written
                    rest = UnsafeRawBufferPointer(rebasing: rest[written...])
                }  // a failure is the writer's to find, trying what is queued
            }
            if !rest.isEmpty { queue.append(Array(rest)) }
            if !rest.isEmpty || acknowledgementDue { condition.broadcast() }
        }
    }

    func credited(_ count: Int) {
        condition.withLock {
            credit += count
            condition.broadcast()
        }
    }

    func remoteEnded() {
        condition.withLock {
            remoteEnd = true
            condition.broadcast()
        }
    }

    /// StreamClosed: with an error, the local socket is cut off at once.
    func remoteClosed(error: String?) {
        condition.withLock {
            closed = true
            if failure == nil { failure = error }
            condition.broadcast()
        }
        if error != nil, case let fd = condition.withLock({ self.fd }), fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    func agentGone() { remoteClosed(error: "the agent went away") }

    // MARK: The threads

    private func readSocket() {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let room: Int? = condition.withLock {
                while credit == 0 && !closed { condition.wait() }
                return closed ? nil : credit
            }
            guard let room else { return }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, room)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                // End of file: the agent shuts the far socket's sending half. A local
                // reset resets the far one too.
                mux.close(id, abort: count < 0)
                if count < 0 { remoteClosed(error: "the local connection was reset") }
                return
            }
            condition.withLock { credit -= count }
            let sent = buffer.withUnsafeBytes { mux.sendData(id, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            guard sent else { return agentGone() }
        }
    }

    /// With the lock held. Once the stream has ended nothing more comes, so the agent
    /// needs no more credit.
    private var acknowledgementDue: Bool { unacknowledged >= mux.ackBatch && !remoteEnd && !closed }

    private enum WriterStep {
        case write([[UInt8]])
        case acknowledge(Int)
        case shut
        case stop
    }

    private func writeSocket() {
        var shut = false
        while true {
            let step = condition.withLock { () -> WriterStep in
                while queue.isEmpty && !acknowledgementDue && !closed && (!remoteEnd || shut) { condition.wait() }
                if !queue.isEmpty {
                    writing = true
                    defer { queue.removeAll() }
                    return .write(queue)
                }
                if acknowledgementDue {
                    defer { unacknowledged = 0 }
                    return .acknowledge(unacknowledged)
                }
                return closed ? .stop : .shut
            }
            switch step {
            case .write(let chunks):
                for chunk in chunks where !writeAll(chunk) {
                    mux.close(id, abort: true)
                    return remoteClosed(error: "the local connection was closed")
                }
                condition.withLock {
                    writing = false
                    unacknowledged += chunks.reduce(0) { $0 + $1.count }
                }
            case .acknowledge(let count):
                mux.acknowledge(id, count)
            case .shut:
                shutdown(fd, Int32(SHUT_WR))  // the far side ended: so does ours
                shut = true
            case .stop:
                return
            }
        }
    }

    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    private func finished() {
        let last = condition.withLock { () -> Bool in
            running -= 1
            return running == 0
        }
        guard last else { return }
        let failure = condition.withLock { self.failure }
        Glibc.close(fd)
        done(failure)
    }
}
