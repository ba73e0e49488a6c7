import CSys

/// Bytes gathered for one descriptor in caller memory, so that several TLS records (or
/// several decrypted ones) leave in one write(2): fewer system calls, and fewer wake-ups
/// of whoever reads the other end.
struct GatheredOutput {
    let memory: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    init(_ memory: UnsafeMutableRawBufferPointer) { self.memory = memory }

    var isEmpty: Bool { start == end }

    enum Step {
        /// The bytes were taken.
        case taken
        /// They did not fit; some of what was gathered went out to make room.
        case flushed
        case wouldBlock
        /// The descriptor is closed or failed.
        case failed
    }

    /// Takes `count` bytes when they fit behind what is gathered; otherwise writes what
    /// is gathered to make room (the caller offers them again).
    mutating func take(_ bytes: UnsafeRawPointer, _ count: Int, orFlushTo fd: Int32) -> Step {
        if append(bytes, count) { return .taken }
        switch flush(to: fd) {
        case .moved: return .flushed
        case .wouldBlock: return .wouldBlock
        case .ended, .failed: return .failed
        }
    }

    /// Takes `count` bytes when they fit behind what is gathered.
    mutating func append(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        guard end + count <= memory.count else { return false }
        (memory.baseAddress! + end).copyMemory(from: bytes, byteCount: count)
        end += count
        return true
    }

    /// Writes what is gathered, as far as `fd` (a socket: TCP, or a socketpair's end)
    /// takes it.
    mutating func flush(to fd: Int32) -> Transfer {
        let result = Transfer(csys_send_quietly(fd, memory.baseAddress! + start, end - start))
        if case .moved(let count) = result {
            start += count
            if start == end { (start, end) = (0, 0) }
        }
        return result
    }
}

/// What a read(2) or write(2) did; EINTR counts as "try again later".
public enum Transfer {
    case moved(Int)
    case wouldBlock
    case ended
    case failed

    init(_ result: Int) {
        if result > 0 {
            self = .moved(result)
        } else if result == 0 {
            self = .ended
        } else {
            let error = csys_errno()
            self = error == CSYS_EAGAIN || error == CSYS_EWOULDBLOCK || error == CSYS_EINTR ? .wouldBlock : .failed
        }
    }
}
