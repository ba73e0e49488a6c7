import CSys
import DbgWire

/// The distro service (0x70): a Linux rootfs under `--distro-root` to install, run
/// commands and shells in, and remove.
///
/// Runs and shells are the service core's processes, like dbg's (and so share their
/// limits and back-pressure); they start inside the rootfs, in their own namespaces.
/// Install and Remove run on a thread of their own, one at a time. Status measures the
/// rootfs as a file job.
///
/// Identity: on a Unix socket, the peer process's user (SO_PEERCRED); elsewhere the
/// connection's most recent session. Install and Remove need uid 0.
final class DistroService {
    let core: ServiceCore
    #if !DBG_NO_SHELLS
    let relay: ShellRelay
    #endif
    let streams: StreamRelay
    let root: DistroRoot
    let defaultURL: [UInt8]
    let passwdPath: String
    let groupPath: String
    let maxRunSeconds: Int64
    let jobs: WorkerPool<DistroJob>
    /// The Install or Remove in progress (or finished, waiting for its connection).
    var pending: PendingDistroJob?
    var jobSerial = 0

    init(config: AgentConfig, core: ServiceCore) throws(StartupError) {
        self.core = core
        #if !DBG_NO_SHELLS
        relay = ShellRelay(processes: core.processes)
        #endif
        streams = StreamRelay(processes: core.processes)
        root = DistroRoot(config.distroRoot)
        defaultURL = Array(config.distroURL.utf8)
        passwdPath = config.passwdPath
        groupPath = config.groupPath
        maxRunSeconds = config.maxExecTimeoutSeconds
        do throws(Errno) {
            // The start-up clean-up, then one Install or Remove at a time.
            jobs = try WorkerPool(threads: 1, capacity: 2, stackSize: 256 << 10) { job in job.perform() }
            try core.loop.add(jobs.wakeup, .readable, EventToken(core.loop.register { _, _ in self.jobsFinished() }))
        } catch {
            throw StartupError("cannot start the distro thread: \(error.message)")
        }
        _ = jobs.submit(.removeLeftovers(root))
        core.whenConnectionCloses { connection in self.connectionClosed(connection) }
    }

    func handle(_ request: Request, on connection: inout Connection) {
        let header = request.header
        guard let op = Distro.Op(rawValue: header.op) else {
            return connection.fail(header, .unsupported, "unknown distro op 0x\(hex(UInt32(header.op), digits: 4))")
        }
        switch op {
        case .status: serve(Empty.self, request, &connection, status)
        case .install: serve(Distro.InstallRequest.self, request, &connection, install)
        case .run: serve(Distro.RunRequest.self, request, &connection, run)
        case .remove: serve(Empty.self, request, &connection, remove)
        #if DBG_NO_SHELLS
        case .shellOpen, .shellInput, .shellResize, .shellClose:
            connection.fail(request.header, .unsupported, "this dbgd was built without shells (DBG_SHELLS=OFF)")
        #else
        case .shellOpen: serve(Distro.ShellOpenRequest.self, request, &connection, openShell)
        case .shellInput: serve(Distro.ShellInputRequest.self, request, &connection, shellInput)
        case .shellResize: serve(Distro.ShellResizeRequest.self, request, &connection, resizeShell)
        case .shellClose: serve(Distro.ShellCloseRequest.self, request, &connection, closeShell)
        #endif
        case .runStart: serve(Distro.RunStartRequest.self, request, &connection, startRun)
        case .runInput: serve(ProcessData.self, request, &connection, runInput)
        case .runCloseInput: serve(Distro.RunRef.self, request, &connection, closeRunInput)
        case .runSignal: serve(Distro.RunSignalRequest.self, request, &connection, signalRun)
        case .runResize: serve(Distro.RunResizeRequest.self, request, &connection, resizeRun)
        }
    }

    /// ShellInput waits while earlier keystrokes for its shell still wait for the PTY.
    func readiness(of request: Request) -> RequestReadiness {
        #if DBG_NO_SHELLS
        return .now
        #else
        guard request.header.op == Distro.Op.shellInput.rawValue,
              let input = try? Distro.ShellInputRequest.decode(payload: request.payload) else { return .now }
        return core.processes.inputIsBlocked(shell: input.sessionID) ? .blocked : .now
        #endif
    }

    // MARK: Identity

    /// Who a request acts for: the account, and the session serial (0 for a local peer).
    struct Caller {
        var account: UserAccount
        var sessionSerial: UInt64
    }

    func caller(_ connection: borrowing Connection) throws(ServiceError) -> Caller {
        switch try admission(connection) {
        case .session(let session):
            return Caller(account: session.user.account, sessionSerial: session.serial)
        case .localPeer(let uid, let gid):
            var account = (try? UserAccount.find(uid: uid, inPasswd: passwdPath))
                ?? UserAccount(name: "\(uid)", uid: uid, gid: gid, home: "/", shell: "/bin/sh")
            account.groups = (try? GroupFile.groups(of: Array(account.name.utf8), primary: account.gid, path: groupPath))
                ?? [account.gid]
            return Caller(account: account, sessionSerial: 0)
        }
    }

    /// On what grounds a connection may use the service.
    enum Admission {
        case localPeer(uid: UInt32, gid: UInt32)
        case session(Session)
    }

    /// Whether, and as what, the connection may use the service. Cheap (no file is
    /// read), so every keystroke of a shell can be checked.
    func admission(_ connection: borrowing Connection) throws(ServiceError) -> Admission {
        if let peer = connection.localPeer {
            // A non-root agent can only act as itself.
            guard geteuid() == 0 || peer.uid == geteuid() else {
                throw ServiceError(.denied, "this agent runs as uid \(geteuid()) and serves only that user")
            }
            return .localPeer(uid: peer.uid, gid: peer.gid)
        }
        guard let session = core.sessions.latest(on: connection.ref) else {
            throw ServiceError(.unauthenticated, "the distro service needs a session on this connection (Authenticate first)")
        }
        return .session(session)
    }

    /// Install and Remove change the system: root only.
    private func requireAdministrator(_ connection: borrowing Connection, _ what: String) throws(ServiceError) {
        let caller = try caller(connection)
        guard caller.account.uid == 0 else {
            throw ServiceError(.denied, "\(what) needs uid 0 (the caller is uid \(caller.account.uid))")
        }
    }

    // MARK: Status, Install, Remove

    private func status(_: Empty, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        _ = try admission(connection)
        guard root.isInstalled, pending?.kind != .remove else {
            return connection.respond(to: request, with: Distro.StatusResponse(installed: false, path: WireBytes(root.path), size: 0))
        }
        if let busy = core.fileJobs.submit(.diskUsage, path: root.path, reportedAs: root.path, as: nil,
                                           reply: ReplyAddress(connection: connection.ref, request: request)) {
            throw ServiceError(.busy, busy)
        }
    }

    private func install(_ install: Distro.InstallRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try requireAdministrator(connection, "Install")
        try startInstall(install.url.bytes, reply: ReplyAddress(connection: connection.ref, request: request))
    }

    /// Starts installing the archive at `url` (empty: --distro-url) for a caller already
    /// checked to be root; `.distroJob` is posted to `reply` when it is done (Install, or
    /// the HTTP API's distro-install). Returns the source as logged.
    @discardableResult
    func startInstall(_ url: [UInt8], reply: ReplyAddress) throws(ServiceError) -> String {
        if let busy = busyWithJob { throw ServiceError(.busy, busy) }
        var url = url
        if url.isEmpty {
            guard !defaultURL.isEmpty else {
                throw ServiceError(.unsupported, "no default URL: name an archive, or start dbgd with --distro-url")
            }
            url = defaultURL
        }
        let location = try ArchiveLocation.parse(url)
        if root.isInstalled {
            throw ServiceError(.exists, "a distro is already installed at \(root.description) (Remove it first)")
        }
        jobSerial += 1
        let job = InstallJob(root: root, location: location, cancel: CancelFlag(), serial: jobSerial)
        guard jobs.submit(.install(job)) else { throw ServiceError(.busy, "the distro thread is busy") }
        Log.info("distro: installing \(job.source) into \(root.description)")
        pending = PendingDistroJob(kind: .install, cancel: job.cancel, reply: reply)
        return job.source
    }

    /// The finished job of `connection` (posted as `.distroJob`), taken; nil when there is
    /// none.
    func takeFinished(for connection: ConnectionRef) -> Result<Void, ServiceError>? {
        guard let job = pending, job.reply.connection == connection, let result = job.result else { return nil }
        pending = nil
        return result
    }

    /// Cancels the install of `connection` (the HTTP API's cancel); it ends as cancelled.
    func cancelInstall(of connection: ConnectionRef) {
        guard let job = pending, job.reply.connection == connection, job.result == nil else { return }
        job.cancel.raise(.clientGone)
    }

    private func remove(_: Empty, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        try requireAdministrator(connection, "Remove")
        if let busy = busyWithJob { throw ServiceError(.busy, busy) }
        let (commands, shells) = activeProcesses
        if commands + shells > 0 {
            throw ServiceError(.busy, "the distro is in use (\(commands) runs and \(shells) shells); end them first")
        }
        guard root.exists else { throw ServiceError(.notFound, "no distro is installed at \(root.description)") }
        jobSerial += 1
        guard jobs.submit(.remove(RemoveJob(root: root, serial: jobSerial))) else {
            throw ServiceError(.busy, "the distro thread is busy")
        }
        Log.info("distro: removing \(root.description)")
        pending = PendingDistroJob(kind: .remove, cancel: CancelFlag(), reply: ReplyAddress(connection: connection.ref, request: request))
    }

    private var busyWithJob: String? {
        guard let pending, pending.result == nil else { return nil }
        return pending.kind == .install ? "an install is in progress" : "a removal is in progress"
    }

    /// Distro runs and shells that have not ended.
    var activeProcesses: (commands: Int, shells: Int) {
        let processes = core.processes
        let commands = (0..<processes.commands.capacity).filter {
            processes.commands[$0].state == .running && processes.commands[$0].reply.request.service == ServiceID.distro
        }
        #if DBG_NO_SHELLS
        let shells: [Int] = []
        #else
        let shells = (0..<processes.shells.capacity).filter {
            processes.shells[$0].state != .free && processes.shells[$0].reply.request.service == ServiceID.distro
        }
        #endif
        let streams = (0..<processes.streams.capacity).filter {
            processes.streams[$0].state == .running && processes.streams[$0].reply.request.service == ServiceID.distro
        }
        return (commands.count + streams.count, shells.count)
    }

    /// The distro thread finished its job: its answer is posted for its connection.
    func jobsFinished() {
        jobs.takeFinished { job in
            guard pending != nil else { return }
            switch job {
            case .removeLeftovers:
                return
            case .install(let install):
                switch install.result {
                case .success(let summary):
                    Log.info("distro: installed \(install.source) into \(root.description) (\(summary.format), "
                        + "\(summary.entries) entries, \(summary.bytes) bytes)")
                    core.news.add(.distro, "distro: installed \(install.source) (\(summary.entries) entries)")
                    pending!.result = .success(())
                case .failure(let failure):
                    Log.info("distro: install of \(install.source) failed: \(failure.message)")
                    core.news.add(.distro, "distro: install of \(install.source) failed: \(failure.message)")
                    pending!.result = .failure(failure)
                }
            case .remove(let remove):
                if let failure = remove.result {
                    Log.info("distro: removing \(root.description) failed: \(failure.message)")
                    pending!.result = .failure(failure)
                } else {
                    Log.info("distro: removed \(root.description)")
                    core.news.add(.distro, "distro: removed")
                    pending!.result = .success(())
                }
            }
            if pending!.reply.isDetached {
                pending = nil  // nobody to answer
            } else {
                core.completions.post(.distroJob, for: pending!.reply.connection)
            }
        }
    }

    /// Queues the answer to work of this service that finished; false while the transmit
    /// buffer has no room for it (it stays posted).
    func deliver(_ work: CompletionQueue.Work, _ connection: inout Connection) -> Bool {
        switch work {
        case .command(let index):
            let processes = core.processes
            let notice = DistroService.cutNotice(processes.commands[index])
            guard connection.transmit.reserveWritable(processes.commands[index].replySize + notice.count) else { return false }
            processes.commands[index].stderr.end(with: notice)
            connection.respond(to: processes.commands[index].reply.request, with: processes.commands[index].runResult)
            processes.releaseCommand(index)
        case .shellExit(let index):
            #if !DBG_NO_SHELLS
            return relay.finishExit(index, &connection)
            #endif
        case .processExit(let index):
            return streams.finishExit(index, &connection)
        case .appAnswer, .flash:
            break  // the dbg service's own; the router never hands it here
        case .fileJob(let index):
            guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
            let job = core.fileJobs.take(index)
            switch job.result {
            case .success(.diskUsage(let bytes)):
                connection.respond(to: job.reply.request, with: Distro.StatusResponse(installed: true, path: WireBytes(job.path),
                                                                                      size: bytes))
            case .failure(let error):
                connection.fail(job.reply.request, ServiceError(error, path: job.path))
            default:
                connection.fail(job.reply.request, .internalError, "a file job came back unfinished or of another service")
            }
        case .distroJob:
            guard let job = pending, let result = job.result else { return true }
            guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
            pending = nil
            switch result {
            case .success: connection.respond(to: job.reply.request, with: Empty())
            case .failure(let failure): connection.fail(job.reply.request, failure)
            }
        case .authentication:
            break  // the dbg service's; the router never hands it here
        }
        return true
    }

    /// RunResult has no truncation flags: a cut is told by a line at the end of stderr
    /// (empty when nothing was cut).
    static func cutNotice(_ command: borrowing RunningCommand) -> [UInt8] {
        let (out, err) = (command.stdout.truncated, command.stderr.truncated)
        guard out || err else { return [] }
        let which = out && err ? "stdout and stderr were" : out ? "stdout was" : "stderr was"
        return Array("dbgd: output cut: \(which) longer than \(command.stdout.capacity) bytes\n".utf8)
    }

    /// An install for a connection that closed stops and leaves nothing; a removal goes on.
    func connectionClosed(_ connection: ConnectionRef) {
        guard let job = pending, job.reply.connection == connection else { return }
        if job.result != nil {
            pending = nil
            return
        }
        pending!.reply.detach()
        job.cancel.raise(.clientGone)
    }

    /// Before the agent exits: a running install is cancelled, and the job gets a few
    /// seconds to clean up after itself (what is left is removed by the next install).
    func shutdown() {
        guard let job = pending, job.result == nil else { return }
        job.cancel.raise(.shuttingDown)
        let deadline = MonotonicClock.now() + 10_000
        while MonotonicClock.now() < deadline {
            if csys_wait_ready(jobs.wakeup.rawValue, 0, 100) > 0 { return }
        }
        Log.info("distro: the \(job.kind == .install ? "install" : "removal") did not stop within 10 s")
    }
}

/// The Install or Remove in progress, and its result until it is delivered.
struct PendingDistroJob {
    enum Kind {
        case install, remove
    }

    var kind: Kind
    let cancel: CancelFlag
    var reply: ReplyAddress
    var result: Result<Void, ServiceError>?
}
