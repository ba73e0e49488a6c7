import CSys
import DbgWire

/// Who calls the runtime: the peer of the socket (SO_PEERCRED) or a session's user.
struct AppCaller {
    let uid: UInt32
    let groups: [UInt32]
}

/// The application runtime (seed 002): JSON-RPC messages in, answers out, for every
/// front end that carries them (the runtime socket, the dbg service's AppCall). A
/// message whose calls all answer at once is answered by `submit`; one that runs a
/// process or waits (stop, a followed log) keeps a message slot, and `.appAnswer(slot)`
/// is posted for its owner once every call has finished; the owner takes the text with
/// `answerText` and `release`.
///
/// The processes and file jobs the runtime starts answer to the runtime itself: it is a
/// front end of the core whose "connections" are its call slots. So a caller that goes
/// away leaves its procedures running to their end (an `exit` or `init` hook cut short
/// would leave the application half-updated); their results are logged.
final class AppRuntime: FrontEnd {
    let config: AppConfig
    let directory: AppDirectory
    let log: LogRing
    let supervisor: AppSupervisor
    let core: ServiceCore
    /// Members may call besides root.
    let rpcGroup: UInt32?
    /// The largest message read, and about the largest answer written.
    let maxMessageBytes: Int
    private(set) var number: UInt8 = 0
    /// The runtime socket's front end: its connections (one message each) have the first
    /// `config.rpcConnections` message slots to themselves, so callers through other front
    /// ends cannot take them all.
    var socketFrontEnd: UInt8?
    /// Messages one connection of another front end (AppCall) may have waiting at once.
    static let messagesPerConnection = 4
    var messages: [AppMessage]
    var calls: [AppCall]
    /// How long a followed `logs` call waits for a line.
    static let followMs: Milliseconds = 30_000

    init(config: AppConfig, directory: AppDirectory, rpcGroup: UInt32?, maxMessageBytes: Int, messageCapacity: Int,
         core: ServiceCore) {
        self.config = config
        self.directory = directory
        self.rpcGroup = rpcGroup
        self.maxMessageBytes = maxMessageBytes
        self.core = core
        log = LogRing(capacity: config.logBytes)
        messages = [AppMessage](repeating: AppMessage(), count: messageCapacity)
        calls = [AppCall](repeating: AppCall(), count: core.processes.commands.capacity + messageCapacity)
        supervisor = AppSupervisor(log: log, stopTimeoutMs: config.stopTimeoutMs, restartOnFailure: config.restartOnFailure,
                                   loop: core.loop, timer: core.timer) { () throws(ServiceError) -> LaunchSpec in
            LaunchSpec(argv: [directory.file("main")], environment: AppRuntime.environment(directory, config, extra: []),
                       searchPath: UserEnvironment.searchPath(for: directory.user), cwd: directory.path,
                       identity: UserEnvironment.identity(for: directory.user))
        }
        number = core.register(self)
        supervisor.changed = { self.supervisorChanged() }
        supervisor.news = core.news
        core.processes.reapOthers = { self.supervisor.reap() }
        core.processes.otherPIDs = { self.supervisor.isRunning ? [self.supervisor.pid] : [] }
        core.whenConnectionCloses { self.connectionClosed($0) }
    }

    /// The environment of main, the hooks and the actions: the app user's, as for
    /// RunCommand, and where the app lives.
    static func environment(_ directory: AppDirectory, _ config: AppConfig, extra: [[UInt8]]) -> [[UInt8]] {
        UserEnvironment.variables(for: directory.user, extra: [Array("DBGD_APP_DIR=".utf8) + directory.path,
                                                                Array(("DBGD_BACKUP_DIR=" + config.backupDirectory).utf8)] + extra)
    }

    /// Root, and the members of --rpc-group.
    func mayCall(_ caller: AppCaller) -> Bool {
        caller.uid == 0 || rpcGroup.map { caller.groups.contains($0) } == true
    }

    enum Submission {
        /// The answer now (nil: nothing to send, notifications only).
        case answer([UInt8]?)
        /// `.appAnswer(slot)` follows for the owner.
        case pending(Int)
    }

    /// Runs one message (a request or a batch) for `owner`.
    func submit(_ message: UnsafeRawBufferPointer, caller: AppCaller, owner: ReplyAddress) -> Submission {
        guard mayCall(caller) else { return .answer(AppFailure.refusingMessage(AppFailure.notAllowed)) }
        let items: [JSONRPC.Item]
        let batch: Bool
        switch JSONRPC.read(message, maxBytes: maxMessageBytes) {
        case .refused(let answer): return .answer(JSONWriter.encode(answer))
        case .items(let read, let isBatch): (items, batch) = (read, isBatch)
        }
        guard let slot = freeMessageSlot(for: owner.connection) else {
            return .answer(AppFailure.refusingMessage(ServiceError(.busy, "too many runtime messages waiting; try again")))
        }
        messages[slot] = AppMessage(inUse: true, owner: owner, batch: batch, answers: [JSONValue?](repeating: nil, count: items.count))
        for (position, item) in items.enumerated() {
            switch item {
            case .invalid(let id, let failure):
                messages[slot].answers[position] = JSONRPC.response(id: id, .failure(failure))
            case .request(let request):
                // A notification's work answers nobody: it does not hold the message.
                let waiter = request.id == nil ? AppCall.Waiter.nobody(request.method)
                    : .message(slot, position: position, id: request.id!)
                switch begin(request, waiter) {
                case .done(let result):
                    if let id = request.id { messages[slot].answers[position] = JSONRPC.response(id: id, result) }
                    else if case .failure(let failure) = result { logUnanswered(request.method, failure) }
                case .pending:
                    if request.id != nil { messages[slot].outstanding += 1 }
                case .silent:
                    break
                }
            }
        }
        guard messages[slot].outstanding == 0 else { return .pending(slot) }
        let answer = JSONRPC.encode(messages[slot].answers, batch: batch)
        messages[slot] = AppMessage()
        return .answer(answer)
    }

    /// A free message slot in `connection`'s share: the socket's reserved ones, or the
    /// others within the per-connection limit.
    private func freeMessageSlot(for connection: ConnectionRef) -> Int? {
        let reserved = min(config.rpcConnections, messages.count)
        if connection.frontEnd == socketFrontEnd {
            return (0..<reserved).first { !messages[$0].inUse }
        }
        let held = messages.indices.filter { messages[$0].inUse && messages[$0].owner.connection == connection }.count
        guard held < AppRuntime.messagesPerConnection else { return nil }
        return (reserved..<messages.count).first { !messages[$0].inUse }
    }

    /// A message's answer once `.appAnswer(slot)` was posted (nil: nothing to send).
    func answerText(_ slot: Int) -> [UInt8]? {
        JSONRPC.encode(messages[slot].answers, batch: messages[slot].batch)
    }

    /// Frees a message slot once its answer is sent.
    func release(_ slot: Int) { messages[slot] = AppMessage() }

    /// Ends call `index` with `result`: its answer goes into its message, and a message
    /// with no call left is posted to its owner.
    func finish(_ index: Int, _ result: Result<JSONValue, JSONRPC.Failure>) {
        let waiter = calls[index].waiter
        calls[index] = AppCall(generation: calls[index].generation &+ 1)
        switch waiter {
        case .nobody(let method):
            if case .failure(let failure) = result { logUnanswered(method, failure) }
        case .message(let slot, let position, let id):
            messages[slot].answers[position] = JSONRPC.response(id: id, result)
            messages[slot].outstanding -= 1
            guard messages[slot].outstanding == 0 else { return }
            if messages[slot].owner.isDetached {
                messages[slot] = AppMessage()
            } else {
                core.completions.post(.appAnswer(slot), for: messages[slot].owner.connection)
            }
        }
    }

    /// A failure nobody hears of goes to the agent's log and the app's.
    func logUnanswered(_ method: String, _ failure: JSONRPC.Failure) {
        let line = method + " (no answer sent): " + failure.message
        Log.info("app runtime: " + line)
        log.append(line, stream: .agent)
    }

    /// Takes a free call slot for `work`; Busy when none is free.
    func newCall(_ waiter: AppCall.Waiter, _ work: AppCall.Work) throws(ServiceError) -> Int {
        guard let index = calls.firstIndex(where: { !$0.inUse }) else {
            throw ServiceError(.busy, "every runtime call slot is in use; try again")
        }
        calls[index].inUse = true
        calls[index].waiter = waiter
        calls[index].work = work
        return index
    }

    /// The reply address of the processes and file jobs a call starts: the runtime.
    func reply(to index: Int) -> ReplyAddress {
        ReplyAddress(connection: ConnectionRef(frontEnd: number, slot: index, generation: calls[index].generation),
                     request: .connectionLevel)
    }

    // MARK: FrontEnd (the runtime's own processes and file jobs)

    func completionsReady(for connection: ConnectionRef) {
        while let completion = core.completions.first(of: connection) {
            core.completions.remove(completion)
            let index = connection.slot
            let current = calls[index].inUse && calls[index].generation == connection.generation
            switch completion.work {
            case .command(let command):
                if current { processEnded(index, command) }
                core.processes.releaseCommand(command)
            case .fileJob(let job):
                let done = core.fileJobs.take(job)
                if current { fileJobEnded(index, done.result ?? .failure(Errno(CSYS_ECANCELED))) }
            default:
                break
            }
        }
    }

    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness) {}
    func streamReady(_ stream: Int, of connection: ConnectionRef) {}

    // MARK: Waiting calls

    /// main stopped or wrote: stops and exits waiting for it go on, followed logs answer.
    private func supervisorChanged() {
        for index in calls.indices where calls[index].inUse {
            switch calls[index].work {
            case .stopping(let exitTarget) where !supervisor.isRunning:
                if let exitTarget { runExitHook(index, target: exitTarget) } else { finish(index, .success(.null)) }
            case .following(let since, let limit, _) where log.lastSequence > since:
                finish(index, .success(logs(after: since, limit: limit)))
            default:
                break
            }
        }
    }

    /// Followed logs that waited long enough answer with no lines; main's deadlines.
    func expire(now: Milliseconds) -> Milliseconds? {
        var next = supervisor.expire(now: now)
        for index in calls.indices where calls[index].inUse {
            guard case .following(let since, let limit, let until) = calls[index].work else { continue }
            if now >= until {
                finish(index, .success(logs(after: since, limit: limit)))
            } else {
                next = min(next ?? until, until)
            }
        }
        return next
    }

    /// A connection of some front end closed: its messages answer nobody; what they wait
    /// for without running anything ends now.
    private func connectionClosed(_ connection: ConnectionRef) {
        for slot in messages.indices where messages[slot].inUse && messages[slot].owner.connection == connection {
            messages[slot].owner.detach()
        }
        for index in calls.indices where calls[index].inUse {
            guard case .message(let slot, _, _) = calls[index].waiter, messages[slot].owner.isDetached else { continue }
            if case .following = calls[index].work { finish(index, .success(.null)) }
        }
    }

    /// Before the agent exits.
    func shutdown() { supervisor.shutdown() }
}

/// One JSON-RPC message while some of its calls run.
struct AppMessage {
    var inUse = false
    var owner = ReplyAddress.none
    var batch = false
    /// By position; nil for notifications and calls not finished.
    var answers: [JSONValue?] = []
    /// Calls still running.
    var outstanding = 0
}

/// A call that did not answer at once.
struct AppCall {
    /// Who gets its result.
    enum Waiter {
        /// A notification or a callback: its failure is logged.
        case nobody(String)
        case message(Int, position: Int, id: JSONValue)
    }

    /// What it waits for.
    enum Work {
        case none
        /// A process: a hook, an action, an eval, a backup being written.
        case process(AppProcedure)
        /// main to stop; for `exit`, the exit hook's target comes next.
        case stopping(exitTarget: JSONValue?)
        /// A line after `since`, until the deadline.
        case following(since: UInt64, limit: Int, until: Milliseconds)
        /// A backup's sync and rename, then its hash.
        case savingBackup(temporary: [UInt8], final: [UInt8])
        case hashingBackup([UInt8])
    }

    var inUse = false
    var generation: UInt32 = 0
    var waiter = Waiter.nobody("")
    var work = Work.none

    init() {}
    init(generation: UInt32) { self.generation = generation }
}
