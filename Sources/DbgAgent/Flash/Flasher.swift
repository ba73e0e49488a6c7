import CSys
import DbgWire

/// Flashing on the loop's side: the one flash a board runs at a time, its requests while
/// the flash thread works on them, and their answers. The loop checks every request and
/// copies a chunk's bytes into a buffer of the pool (mapped at start-up); the thread
/// decodes, writes, reads back and flushes, so a slow device never holds up the loop.
/// A request that takes several steps (zeroing before the first write; flush, read-back
/// and close at the end) goes on from step to step here, with a progress event between
/// two; its answer is posted to the completion queue like any other work's.
final class Flasher {
    /// FlashWrite requests in flight at once, each with a buffer of its own.
    static let window = 4
    /// Requests in flight: the writes, a verify, a finish, and one kept for the close of
    /// a flash whose connection went away.
    static let capacity = window + 3
    /// A flash without a request for this long is closed: its client went away without
    /// closing its connection (a connection master keeps that open).
    static let idleMs: Milliseconds = 120_000

    struct Pending {
        enum Request {
            case open
            case write(buffer: Int)
            case verify(length: UInt64)
            case finish(readBack: Bool)
        }
        var reply: ReplyAddress
        let request: Request
        var failure: ServiceError?
        /// The next event to send, and whether a completion is posted for this entry.
        var progress: Dbg.FlashProgressEvent?
        var posted = false
        /// Set when the request's last step is done.
        var answer: Result<Answer, ServiceError>?
    }

    enum Answer {
        case opened(Dbg.FlashOpened)
        case written(UInt64)
        case digest([UInt8], UInt64)
        case finished(Dbg.FlashResult)
    }

    struct Flash {
        let id: UInt32
        let owner: ConnectionRef
        let serial: UInt64
        let user: String
        let device: String
        let writer: FlashWriter
        /// Raw: where the last write ended (offsets only go forward). Stream: the next
        /// stream offset.
        var next: UInt64 = 0
        var freeBuffers: [Int]
        /// Zeroing (before the first write is taken) or finishing: no writes now.
        var busy = false
        var closing = false
        var lastUse: Milliseconds
    }

    let buffers: SlotPool
    let workers: WorkerPool<FlashJob>
    let completions: CompletionQueue
    let timer: DeadlineTimer
    var flash: Flash?
    var pending: [Pending?]
    private var lastID: UInt32 = 0

    init(bufferSize: Int, loop: EventLoop, timer: DeadlineTimer, completions: CompletionQueue, stackSize: Int) throws(Errno) {
        self.completions = completions
        self.timer = timer
        // The window's buffers, the decoder's staging buffer and the read-back buffer.
        buffers = try SlotPool(slotSize: bufferSize, slotCount: Flasher.window + 2)
        pending = [Pending?](repeating: nil, count: Flasher.capacity)
        workers = try WorkerPool(threads: 1, capacity: Flasher.capacity, stackSize: stackSize) { job in
            job.run()
            return true
        }
        try loop.add(workers.wakeup, .readable, EventToken(loop.register { _, _ in self.workersFinished() }))
    }

    var budgetBytes: Int { buffers.totalBytes }
    var chunkLimit: Int { buffers.slotSize }

    // MARK: Requests

    /// Opens the device on the flash thread (the checks and the open may wait on it); the
    /// answer comes once it is open, and zeroed with Discard.
    func open(_ request: Dbg.FlashOpenRequest, device: String, as user: UserAccount, session: UInt64,
              reply: ReplyAddress) throws(ServiceError) {
        guard user.uid == 0 else { throw ServiceError(.denied, "flashing a device needs root") }
        if let flash { throw ServiceError(.busy, "\(flash.device) is being flashed by \(flash.user); one flash at a time") }
        let entry = try freeEntry()
        lastID = lastID &+ 1 == 0 ? 1 : lastID &+ 1
        let settings = FlashWriter.Settings(device: device, imageSize: request.imageSize, stream: request.stream,
                                            discard: request.discard, force: request.force, hashing: request.hash)
        let writer = FlashWriter(settings, staging: buffers.slot(Flasher.window), readBuffer: buffers.slot(Flasher.window + 1))
        flash = Flash(id: lastID, owner: reply.connection, serial: session, user: user.name, device: device, writer: writer,
                      freeBuffers: Array(0..<Flasher.window), busy: true, lastUse: MonotonicClock.now())
        timer.schedule(MonotonicClock.now() + Flasher.idleMs)
        start(entry, .open, .open, reply: reply)
    }

    func write(_ request: Dbg.FlashWriteRequest, session: UInt64, reply: ReplyAddress) throws(ServiceError) {
        var flash = try current(request.flashID, session: session)
        let count = request.data.count
        guard count > 0 else { throw ServiceError(.badRequest, "Data: empty") }
        guard count <= buffers.slotSize else { throw ServiceError(.tooLarge, "Data: more than \(buffers.slotSize) bytes") }
        let work: (UnsafeRawBufferPointer) -> FlashJob.Work
        if flash.writer.stream {
            guard request.offset == flash.next else {
                throw ServiceError(.badRequest, "Offset: \(request.offset) where the stream goes on at \(flash.next)")
            }
            work = { .feed($0) }
        } else {
            guard request.offset >= flash.next else {
                throw ServiceError(.badRequest, "Offset: \(request.offset) is below the end of the previous write (\(flash.next))")
            }
            guard request.offset <= flash.writer.limit && UInt64(count) <= flash.writer.limit - request.offset else {
                throw ServiceError(.tooLarge, "Offset: \(request.offset) + \(count) bytes go past the image's end (\(flash.writer.limit))")
            }
            let offset = request.offset
            work = { .write($0, at: offset) }
        }
        let entry = try freeEntry()
        guard let buffer = flash.freeBuffers.popLast() else {
            throw ServiceError(.busy, "more than \(Flasher.window) FlashWrite requests in flight")
        }
        let slot = buffers.slot(buffer)
        request.data.withUnsafeBytes { slot.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: count) }
        flash.next = request.offset + UInt64(count)
        self.flash = flash
        start(entry, .write(buffer: buffer), work(UnsafeRawBufferPointer(rebasing: slot[0..<count])), reply: reply)
    }

    func verify(_ request: Dbg.FlashVerifyRequest, session: UInt64, reply: ReplyAddress) throws(ServiceError) {
        let flash = try current(request.flashID, session: session)
        let size = flash.writer.target.size
        guard request.length > 0, request.offset <= size, request.length <= size - request.offset else {
            throw ServiceError(.badRequest, "Offset and Length: not a range of the device (\(size) bytes)")
        }
        start(try freeEntry(), .verify(length: request.length),
              .verify(offset: request.offset, length: request.length, fromDevice: request.fromDevice), reply: reply)
    }

    func finish(_ request: Dbg.FlashFinishRequest, session: UInt64, reply: ReplyAddress) throws(ServiceError) {
        let flash = try current(request.flashID, session: session)
        let entry = try freeEntry()
        self.flash!.busy = true
        if request.abort {
            self.flash!.closing = true
            start(entry, .finish(readBack: false), .close, reply: reply)
        } else {
            start(entry, .finish(readBack: request.readBack), flash.writer.stream ? .endStream : .flushBatch, reply: reply)
        }
    }

    /// The open flash, if `id` names it and `session` opened it, ready for a request.
    private func current(_ id: UInt32, session: UInt64) throws(ServiceError) -> Flash {
        guard let flash, flash.id == id else { throw ServiceError(.notFound, "FlashID: no flash \(id) is open (FlashOpen first)") }
        guard flash.serial == session else { throw ServiceError(.denied, "FlashID: flash \(id) belongs to another session") }
        guard !flash.busy else { throw ServiceError(.busy, "flash \(id) is being zeroed or finished") }
        return flash
    }

    /// Closes a flash left idle (nothing in flight, no request for `idleMs`); the next
    /// deadline while one is open.
    func expire(now: Milliseconds) -> Milliseconds? {
        guard let flash, !flash.busy, !flash.closing else { return nil }
        let due = flash.lastUse + Flasher.idleMs
        guard now >= due, pending.allSatisfy({ $0 == nil }) else { return max(due, now + 1000) }
        Log.info("flash: \(flash.device): no request for \(Flasher.idleMs / 1000) s; closing it (partially written)")
        abandon()
        return nil
    }

    /// A free entry for a request, found before anything changes (the last entry is kept
    /// for the close of an abandoned flash).
    private func freeEntry() throws(ServiceError) -> Int {
        guard let index = pending.indices.dropLast().first(where: { pending[$0] == nil }) else {
            throw ServiceError(.busy, "\(Flasher.capacity - 1) flash requests are already in flight")
        }
        return index
    }

    private func start(_ index: Int, _ request: Pending.Request, _ work: FlashJob.Work, reply: ReplyAddress) {
        pending[index] = Pending(reply: reply, request: request)
        flash?.lastUse = MonotonicClock.now()
        submit(index, work)
    }

    func submit(_ index: Int, _ work: FlashJob.Work) {
        // Never full: the pool's queue holds one job for every entry of the table.
        _ = workers.submit(FlashJob(pending: index, writer: flash!.writer, work: work))
    }
}
