import DbgClient

/// A progress line on stderr (bytes, rate, ETA), redrawn at most ten times a second,
/// only when stderr is a terminal and -q was not given.
final class ProgressLine {
    private let label: String
    private let total: UInt64
    private let enabled: Bool
    private let start = MonotonicClock.nanoseconds()
    private var lastDraw: Int64 = 0

    init(_ label: String, total: UInt64, quiet: Bool) {
        self.label = label
        self.total = total
        enabled = !quiet && Terminal.stderrIsTerminal
    }

    /// `wire`: bytes on the wire, when they differ from the bytes counted (a compressed
    /// stream), shown with their own rate.
    func update(_ done: UInt64, wire: UInt64? = nil) {
        guard enabled else { return }
        let now = MonotonicClock.nanoseconds()
        guard now - lastDraw >= 100_000_000 else { return }
        lastDraw = now
        draw(done, wire: wire)
    }

    func finish(_ done: UInt64, wire: UInt64? = nil) {
        guard enabled else { return }
        draw(done, wire: wire)
        writeOut(2, Array("\n".utf8))
    }

    private func draw(_ done: UInt64, wire: UInt64?) {
        let seconds = max(MonotonicClock.seconds(since: start), 0.001)
        let rate = Double(done) / seconds
        let percent = total > 0 ? Int(Double(done) * 100 / Double(total)) : 100
        let left = rate > 0 && total > done ? Int(Double(total - done) / rate) : 0
        let onWire = wire.map { " (wire " + ProgressLine.bytes($0) + " " + ProgressLine.bytes(UInt64(Double($0) / seconds)) + "/s)" } ?? ""
        let line = "\r" + label + " " + String(percent).leftPadded(3) + "% " + ProgressLine.bytes(done) + " " + ProgressLine.bytes(UInt64(rate)) + "/s"
            + onWire + " ETA " + String(left / 60) + ":" + String(left % 60).leftPadded(2, with: "0") + "\u{1b}[K"
        writeOut(2, Array(line.utf8))
    }

    /// "12.3 MB".
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return (unit == 0 ? String(count) : Format.fixed(value, 1)) + " " + units[unit]
    }
}
