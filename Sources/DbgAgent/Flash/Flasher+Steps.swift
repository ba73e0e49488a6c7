import DbgWire

/// A flash's requests from step to step as the flash thread finishes them, their answers
/// and progress events for the front end, and the end of a flash whose connection or
/// session went away.
extension Flasher {
    /// Collects the thread's finished steps: each request goes on to its next step or is
    /// answered.
    func workersFinished() {
        workers.takeFinished { job in
            guard pending[job.pending] != nil else { return }
            step(job.pending, after: job.work, job.outcome)
        }
    }

    private func step(_ index: Int, after work: FlashJob.Work, _ outcome: Result<FlashJob.Outcome, ServiceError>) {
        var entry = pending[index]!
        flash?.lastUse = MonotonicClock.now()
        var failed: ServiceError?
        if case .failure(let error) = outcome {
            failed = error
            if entry.failure == nil { entry.failure = error }
        }
        var next: FlashJob.Work?
        switch (entry.request, work) {
        case (.write(let buffer), _):
            flash?.freeBuffers.append(buffer)
            entry.answer = outcome.map { if case .done(let taken) = $0 { .written(taken) } else { .written(0) } }
        case (.verify(let length), _):
            entry.answer = outcome.map { if case .digest(let digest) = $0 { .digest(digest, length) } else { .digest([], length) } }
        case (_, .close):
            entry.answer = closed(entry)
        case (.open, .open):
            guard let flash else {
                entry.answer = .failure(ServiceError(.internalError, "the flash went away while it opened"))
                break
            }
            if let failed {
                // Refused before anything was open: nothing to close.
                self.flash = nil
                entry.answer = .failure(failed)
                break
            }
            let (settings, target) = (flash.writer.settings, flash.writer.target!)
            Log.info("flash: \(flash.user) writes \(flash.device) (" + (settings.imageSize > 0 ? "\(settings.imageSize)-byte image"
                : "image of unknown size") + (settings.stream ? ", compressed stream" : ", raw")
                + (settings.discard ? ", discard" : "") + (settings.force ? ", forced" : "")
                + (target.direct == nil ? ", buffered" : ", O_DIRECT") + ")")
            if settings.discard {
                next = .zeroOut(from: 0)
            } else {
                entry.answer = opened(flash)
            }
        case (.open, .zeroOut):
            guard failed == nil, case .success(.zeroed(let done)) = outcome, let flash else { break }
            if done < flash.writer.zeroExtent {
                entry.progress = Dbg.FlashProgressEvent(flashID: flash.id, phase: 1, done: done, total: flash.writer.zeroExtent)
                next = .zeroOut(from: done)
            } else {
                entry.answer = opened(flash)
            }
        case (.finish, .endStream):
            next = failed == nil ? .flushBatch : nil
        case (.finish, .flushBatch):
            if failed == nil, case .success(.batch(let complete)) = outcome, let flash {
                if !complete {
                    entry.progress = Dbg.FlashProgressEvent(flashID: flash.id, phase: 2, done: flash.writer.flushDone,
                                                            total: flash.writer.totalRangeBytes)
                }
                next = complete ? .flush : .flushBatch
            }
        case (.finish(let readBack), .flush):
            if failed == nil && readBack, let flash {
                entry.progress = Dbg.FlashProgressEvent(flashID: flash.id, phase: 3, done: 0, total: flash.writer.totalRangeBytes)
                next = .readBack
            }
        case (.finish, .readBack):
            if failed == nil, case .success(.batch(false)) = outcome, let flash {
                entry.progress = Dbg.FlashProgressEvent(flashID: flash.id, phase: 3, done: flash.writer.readBackDone,
                                                        total: flash.writer.totalRangeBytes)
                next = .readBack
            }
        default:
            break
        }
        if entry.reply.isDetached, flash != nil, !flash!.closing {
            // Nobody waits: a finish reads nothing back, a zeroed open closes again.
            if case .readBack = next { next = .close }
            if case .open = entry.request, entry.answer != nil { (entry.answer, next) = (nil, .close) }
        }
        // An open or a finish that has no answer and no next step closes the device:
        // it failed, or it is done with the device.
        if entry.answer == nil && next == nil { next = .close }
        if let next {
            if case .close = next { flash?.closing = true }
            submit(index, next)
        }
        guard !entry.reply.isDetached else {
            // Nobody to tell: the entry ends with its answer.
            entry.progress = nil
            pending[index] = entry.answer == nil ? entry : nil
            return
        }
        pending[index] = entry
        if (entry.progress != nil || entry.answer != nil) && !entry.posted {
            pending[index]!.posted = true
            completions.post(.flash(index), for: entry.reply.connection)
        }
    }

    /// The device is open (and zeroed): writes may come.
    private func opened(_ flash: Flash) -> Result<Answer, ServiceError> {
        self.flash!.busy = false
        let target = flash.writer.target!
        return .success(.opened(Dbg.FlashOpened(flashID: flash.id, deviceSize: target.size, sectorSize: UInt32(target.sectorSize),
                                               direct: target.direct != nil)))
    }

    /// The device is closed: the flash ends, and its finish is answered.
    private func closed(_ entry: Pending) -> Result<Answer, ServiceError> {
        guard let flash else { return .failure(ServiceError(.internalError, "no flash to close")) }
        let writer = flash.writer
        let digests = writer.digests()
        let outcome: String
        if let failure = entry.failure {
            outcome = "failed: " + failure.message
        } else if case .finish = entry.request, !entry.reply.isDetached {
            outcome = "finished"
        } else {
            outcome = "ended before its finish (partially written)"
        }
        Log.info("flash: \(flash.device): \(writer.written) bytes written, \(writer.taken) image bytes taken, \(outcome)")
        self.flash = nil
        for index in 0..<(Flasher.window + 2) { buffers.release(index) }
        if let failure = entry.failure { return .failure(failure) }
        return .success(.finished(Dbg.FlashResult(written: writer.written, length: writer.taken, digest: WireBytes(digests.image),
                                                  readBack: WireBytes(digests.readBack ?? []))))
    }

    // MARK: The front end's side

    /// A posted entry: the event to send first (if any), then the answer once the
    /// request is done (nil while it goes on).
    func take(_ index: Int) -> (reply: ReplyAddress, progress: Dbg.FlashProgressEvent?, answer: Result<Answer, ServiceError>?) {
        guard var entry = pending[index] else { return (.none, nil, nil) }
        let taken = (entry.reply, entry.progress, entry.answer)
        entry.progress = nil
        entry.posted = false
        pending[index] = entry.answer == nil ? entry : nil
        return taken
    }

    /// The request a posted entry answers (to pick its service).
    func reply(of index: Int) -> ReplyAddress? { pending[index]?.reply }

    /// The connection of the flash's session closed: nothing answers it any more, and
    /// the flash ends (flushed and closed; partially written unless its finish was on
    /// the way).
    func connectionClosed(_ connection: ConnectionRef) {
        for index in pending.indices where pending[index]?.reply.connection == connection {
            pending[index]!.reply.detach()
            if pending[index]!.answer != nil { pending[index] = nil }
        }
        if flash?.owner == connection { abandon() }
    }

    /// Logout of the session that opened the flash.
    func sessionEnded(_ serial: UInt64) {
        if flash?.serial == serial { abandon() }
    }

    /// Closes the flash behind its queued steps, unless an open or finish under way
    /// closes it already.
    func abandon() {
        guard let current = flash, !current.closing, !current.busy else { return }
        let index = pending.count - 1
        Log.info("flash: \(current.device): its connection or session ended; closing it")
        flash!.closing = true
        flash!.busy = true
        // Queued behind the steps still waiting: the close comes last.
        pending[index] = Pending(reply: .none, request: .finish(readBack: false))
        submit(index, .close)
    }
}
