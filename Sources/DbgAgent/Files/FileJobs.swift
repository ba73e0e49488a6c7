import DbgWire

/// File work that may wait on slow storage (Hash, Rename's syncs, recursive Remove,
/// distro Status), on threads of its own: never on the loop and never in the
/// authentication pool. A finished job is posted to the completion queue for its
/// connection, whose front end takes it (`take`) and answers.
final class FileJobs {
    static let threads = 2
    /// Jobs queued or running at once (more is Busy).
    static let capacity = 4 * threads

    let workers: WorkerPool<FileJob>
    /// The requests the workers serve, while they run and until answered.
    private var pending: [PendingFileJob?]
    private let completions: CompletionQueue

    init(loop: EventLoop, completions: CompletionQueue, stackSize: Int) throws(Errno) {
        self.completions = completions
        pending = [PendingFileJob?](repeating: nil, count: FileJobs.capacity)
        workers = try WorkerPool(threads: FileJobs.threads, capacity: FileJobs.capacity, stackSize: stackSize) { job in
            job.run()
            return true
        }
        try loop.add(workers.wakeup, .readable, EventToken(loop.register { _, _ in self.workersFinished() }))
    }

    /// Hands `work` on `path` to a worker, as `identity` (nil: the agent itself); its
    /// errors name `reportedAs`. Returns why not (Busy) when the pool is full.
    func submit(_ work: FileWork, path: [UInt8], reportedAs: [UInt8], as identity: UserAccount?,
                reply: ReplyAddress) -> String? {
        guard let index = pending.firstIndex(where: { $0 == nil }) else {
            return "\(pending.count) file jobs are already running; try again"
        }
        let cancel = CancelFlag()
        guard workers.submit(FileJob(slot: index, path: path, identity: identity, work: work, cancel: cancel)) else {
            return "the file worker queue is full; try again"
        }
        pending[index] = PendingFileJob(reply: reply, cancel: cancel, path: reportedAs)
        return nil
    }

    /// Collects what the workers finished and posts each answer.
    func workersFinished() {
        workers.takeFinished { job in
            guard let waiting = pending[job.slot] else { return }
            guard !waiting.reply.isDetached else {
                pending[job.slot] = nil  // the connection is gone
                return
            }
            pending[job.slot]!.result = job.result
            completions.post(.fileJob(job.slot), for: waiting.reply.connection)
        }
    }

    /// A posted job, out of the table.
    func take(_ index: Int) -> PendingFileJob {
        let job = pending[index]!
        pending[index] = nil
        return job
    }

    /// The request a posted job answers (to pick its front end's service).
    func reply(of index: Int) -> ReplyAddress? { pending[index]?.reply }

    /// A closed connection's jobs: finished ones are forgotten, running ones told to stop
    /// (a hash does at its next chunk) and dropped when they end.
    func connectionClosed(_ connection: ConnectionRef) {
        for index in pending.indices {
            guard let job = pending[index], job.reply.connection == connection else { continue }
            if job.result == nil {
                job.cancel.raise(.clientGone)
                pending[index]!.reply.detach()
            } else {
                pending[index] = nil
            }
        }
    }
}
