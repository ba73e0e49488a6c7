import DbgWire

/// Logs the first of a burst of similar events at once, then at most one line per
/// interval saying how many more happened, so a flood cannot flood the log too.
struct RateLimitedLog {
    let intervalMs: Milliseconds
    private var lastLoggedAt: Milliseconds = 0
    private var suppressed = 0

    init(intervalMs: Milliseconds) { self.intervalMs = intervalMs }

    mutating func note(_ message: @autoclosure () -> String) {
        let now = MonotonicClock.now()
        guard lastLoggedAt == 0 || now - lastLoggedAt >= intervalMs else {
            suppressed += 1
            return
        }
        let more = suppressed > 0 ? " (and \(suppressed) more like it since the last report)" : ""
        Log.info(message() + more)
        lastLoggedAt = now
        suppressed = 0
    }
}
