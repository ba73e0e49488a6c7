import CSys
import DbgClient
import Glibc

/// Signals (Ctrl-C, SIGTERM, a window resize) as closures run on a thread of dbg's own:
/// the handler itself only writes the signal's number into a pipe, which is all a signal
/// handler may safely do. A handler stays until dbg exits (dbg runs one command).
enum SignalWatcher {
    private static let lock = Lock()
    nonisolated(unsafe) private static var handlers: [Int32: @Sendable () -> Void] = [:]
    /// Set once, before the first handler is installed; read by the handler.
    nonisolated(unsafe) private static var writeEnd: Int32 = -1

    static func on(_ number: Int32, _ handler: @escaping @Sendable () -> Void) {
        lock.withLock {
            if writeEnd < 0 { startWatching() }
            handlers[number] = handler
        }
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            let saved = errno
            var byte = UInt8(truncatingIfNeeded: number)
            _ = write(SignalWatcher.writeEnd, &byte, 1)
            errno = saved
        }
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        sigaction(number, &action, nil)
        // A parent may have started dbg with the signal blocked (the mask is inherited):
        // this thread takes it then.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, number)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    private static func startWatching() {
        var ends: [Int32] = [-1, -1]
        guard csys_pipe(&ends) == 0 else { return }
        writeEnd = ends[1]
        let readEnd = ends[0]
        startThread {
            var byte: UInt8 = 0
            while true {
                let count = read(readEnd, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { return }
                if let handler = lock.withLock({ handlers[Int32(byte)] }) { handler() }
            }
        }
    }
}
