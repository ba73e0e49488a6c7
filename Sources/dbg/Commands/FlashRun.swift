import DbgClient
import DbgWire
import Glibc

/// One `dbg flash` against the board: open, send the plan's pieces, finish, and check
/// what the board reports against what was sent. A failure or Ctrl-C after the open
/// closes the device on the board and says how far the image got.
struct FlashRun {
    let remote: RemoteFlash
    let plan: FlashPlan
    let device: String
    let quiet: Bool

    func flash(discard: Bool, force: Bool, readBack: Bool) throws -> FlashSummary {
        let start = MonotonicClock.nanoseconds()
        let zeroing = ProgressLine("zeroing \(device)", total: 0, quiet: quiet || !discard)
        let opened = try attempt("flash \(device)") {
            // A block map's checks cover what is sent; the whole image's hash is for the rest.
            try remote.open(device, imageSize: plan.imageSize, stream: plan.mode == .stream, discard: discard, force: force,
                            hash: plan.mode != .bmap || readBack) { event in
                zeroing.update(event.done)
            }
        }
        if discard { zeroing.finish(plan.imageSize) }
        let interrupt = InterruptFlag()
        SignalWatcher.on(SIGINT) { interrupt.raise() }
        let progress = ProgressLine("flash \(device)", total: plan.total, quiet: quiet)
        var taken: UInt64 = 0
        var localFailure: LocalFailure?
        let pieces = try attempt("flash \(plan.mode == .stream ? "reading" : "decoding") the image") { try plan.pieces() }
        let wire = { plan.mode == .stream ? pieces.sent : nil } as () -> UInt64?
        let mismatches: [String]
        do throws(ClientError) {
            mismatches = try remote.send(opened.flashID, { () throws(ClientError) -> RemoteFlash.Piece? in
                guard !interrupt.raised else { return nil }
                do throws(LocalFailure) {
                    return try pieces.next()
                } catch {
                    localFailure = error
                    return nil
                }
            }, written: { sent, boardTaken in
                taken = plan.mode == .stream ? boardTaken : sent
                progress.update(taken, wire: wire())
            })
        } catch {
            progress.finish(taken, wire: wire())
            try partial(opened.flashID, error.message, taken: taken, status: status(of: error))
        }
        if let localFailure { try partial(opened.flashID, localFailure.message, taken: taken, status: ExitStatus.failure) }
        if interrupt.raised { try partial(opened.flashID, "interrupted", taken: taken, status: 130) }
        progress.finish(taken, wire: wire())

        let reading = ProgressLine("reading back \(device)", total: 0, quiet: quiet || !readBack)
        let result = try attempt("flash \(device): finishing") {
            try remote.finish(opened.flashID, readBack: readBack) { event in
                if event.phase == 3 { reading.update(event.done) }
            }
        }
        if readBack { reading.finish(result.length) }
        var problems: [String] = []
        if let sent = plan.streamDigest ?? pieces.digest(), result.digest.bytes != sent {
            problems.append("the board took other bytes than dbg sent (SHA-256 differs)")
        }
        if readBack && result.readBack.bytes != result.digest.bytes {
            problems.append("what the device holds differs from what was written (read-back SHA-256)")
        }
        if !mismatches.isEmpty {
            problems.append("\(mismatches.count) range(s) of the block map read back wrong: "
                + mismatches.prefix(10).joined(separator: ", ") + (mismatches.count > 10 ? ", ..." : ""))
        }
        guard problems.isEmpty else {
            Terminal.error("dbg: flash \(device): " + problems.joined(separator: "; "))
            throw ExitCode(ExitStatus.failure)
        }
        return FlashSummary(mode: plan.mode.rawValue, imageSize: plan.imageSize, taken: result.length, written: result.written,
                            wire: pieces.sent, seconds: MonotonicClock.seconds(since: start), verified: readBack,
                            rangesChecked: plan.mode == .bmap, direct: opened.direct)
    }

    /// Closes the device on the board (if the connection still works) and reports how far
    /// the image got.
    private func partial(_ flash: UInt32, _ reason: String, taken: UInt64, status: Int32) throws -> Never {
        _ = try? remote.finish(flash, readBack: false, abort: true)
        Terminal.error("dbg: flash \(device): \(reason); the device is partially written "
            + "(\(taken) of \(plan.total) image bytes taken): flash it again")
        throw ExitCode(status)
    }
}

/// Raised by Ctrl-C (on the signal watcher's thread), read by the sender.
final class InterruptFlag: @unchecked Sendable {
    private let lock = Lock()
    private var value = false

    func raise() { lock.withLock { value = true } }
    var raised: Bool { lock.withLock { value } }
}

struct FlashSummary {
    let mode: String
    let imageSize: UInt64
    let taken: UInt64
    let written: UInt64
    let wire: UInt64
    let seconds: Double
    let verified: Bool
    let rangesChecked: Bool
    let direct: Bool

    func line(image: String, device: String) -> String {
        let rate = UInt64(Double(taken) / max(seconds, 0.001))
        return "flashed \(image) to \(device): \(ProgressLine.bytes(written)) written of a \(ProgressLine.bytes(imageSize)) image "
            + "in \(Format.fixed(seconds, 1)) s (\(ProgressLine.bytes(rate))/s), \(ProgressLine.bytes(wire)) sent"
            + (rangesChecked ? ", mapped ranges checked" : "") + (verified ? ", read back and verified" : "")
    }

    func json(image: String, device: String) -> String {
        #"{"image":\#(jsonString(image)),"device":\#(jsonString(device)),"mode":"\#(mode)","image_size":\#(imageSize),"#
            + #""image_bytes":\#(taken),"written":\#(written),"wire_bytes":\#(wire),"seconds":\#(Format.fixed(seconds, 3)),"#
            + #""ranges_checked":\#(rangesChecked),"verified":\#(verified),"direct":\#(direct)}"#
    }
}
