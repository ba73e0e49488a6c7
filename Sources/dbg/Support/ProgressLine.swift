import Foundation

/// A progress line on stderr (bytes, rate, ETA), redrawn at most ten times a second,
/// only when stderr is a terminal and -q was not given.
final class ProgressLine {
    private let label: String
    private let total: UInt64
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast

    init(_ label: String, total: UInt64, quiet: Bool) {
        self.label = label
        self.total = total
        enabled = !quiet && Terminal.stderrIsTerminal
    }

    func update(_ done: UInt64) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        draw(done)
    }

    func finish(_ done: UInt64) {
        guard enabled else { return }
        draw(done)
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ done: UInt64) {
        let seconds = max(Date().timeIntervalSince(start), 0.001)
        let rate = Double(done) / seconds
        let percent = total > 0 ? Int(Double(done) * 100 / Double(total)) : 100
        let left = rate > 0 && total > done ? Int(Double(total - done) / rate) : 0
        let line = String(format: "\r%@ %3d%% %@ %@/s ETA %d:%02d\u{1b}[K", label, percent, bytes(done), bytes(UInt64(rate)), left / 60, left % 60)
        FileHandle.standardError.write(Data(line.utf8))
    }

    private func bytes(_ count: UInt64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: unit == 0 ? "%.0f %@" : "%.1f %@", value, units[unit])
    }
}
