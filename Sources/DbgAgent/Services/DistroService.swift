import CSys
import DbgWire

/// The distro service (0x70): a Linux rootfs under `--distro-root` to install, run
/// commands and shells in, and remove.
///
/// Runs and shells share the dbg service's command and shell tables (and so its limits
/// and its back-pressure); they start inside the rootfs, in their own namespaces.
/// Install and Remove run on a thread of their own, one at a time. Status measures the
/// rootfs on a dbg worker thread.
///
/// Identity: on a Unix socket, the peer process's user (SO_PEERCRED); elsewhere the
/// connection's most recent session. Install and Remove need uid 0.
final class DistroService {
    let dbg: DbgService
    let root: DistroRoot
    let defaultURL: [UInt8]
    let passwdPath: String
    let groupPath: String
    let maxRunSeconds: Int64
    let jobs: WorkerPool<DistroJob>
    /// The Install or Remove in progress (or finished, waiting for its connection).
    var pending: PendingDistroJob?
    var jobSerial = 0

    init(config: AgentConfig, dbg: DbgService) throws(StartupError) {
        self.dbg = dbg
        root = DistroRoot(config.distroRoot)
        defaultURL = Array(config.distroURL.utf8)
        passwdPath = config.passwdPath
        groupPath = config.groupPath
        maxRunSeconds = config.maxExecTimeoutSeconds
        do throws(Errno) {
            // The start-up clean-up, then one Install or Remove at a time.
            jobs = try WorkerPool(threads: 1, capacity: 2, stackSize: 256 << 10) { job in job.perform() }
        } catch {
            throw StartupError("cannot start the distro thread: \(error.message)")
        }
        _ = jobs.submit(.removeLeftovers(root))
    }

    func handle(_ request: Request, on connection: inout Connection) {
        let header = request.header
        guard let op = Distro.Op(rawValue: header.op) else {
            return connection.fail(header, .unsupported, "unknown distro op 0x\(hex(UInt32(header.op), digits: 4))")
        }
        switch op {
        case .status:
            decode(Empty.self, request, &connection) { _, connection in status(header, &connection) }
        case .install:
            decode(Distro.InstallRequest.self, request, &connection) { install($0, header, &$1) }
        case .run:
            decode(Distro.RunRequest.self, request, &connection) { run($0, header, &$1) }
        case .remove:
            decode(Empty.self, request, &connection) { _, connection in remove(header, &connection) }
        case .shellOpen:
            decode(Distro.ShellOpenRequest.self, request, &connection) { openShell($0, header, &$1) }
        case .shellInput:
            decode(Distro.ShellInputRequest.self, request, &connection) { input, connection in
                guard let index = ownedShell(input.sessionID, header, &connection) else { return }
                dbg.writeShellInput(input.data, index, header, &connection)
            }
        case .shellResize:
            decode(Distro.ShellResizeRequest.self, request, &connection) { resize, connection in
                guard let index = ownedShell(resize.sessionID, header, &connection) else { return }
                dbg.resizeShell(index, rows: resize.rows, cols: resize.cols, header, &connection)
            }
        case .shellClose:
            decode(Distro.ShellCloseRequest.self, request, &connection) { close, connection in
                guard let index = ownedShell(close.sessionID, header, &connection) else { return }
                dbg.closeShell(index, header, &connection)
            }
        }
    }

    /// ShellInput waits while earlier keystrokes for its shell still wait for the PTY.
    func readiness(of request: Request) -> RequestReadiness {
        guard request.header.op == Distro.Op.shellInput.rawValue,
              let input = try? Distro.ShellInputRequest.decode(payload: request.payload) else { return .now }
        return dbg.shellInputIsBlocked(sessionID: input.sessionID) ? .blocked : .now
    }

    // MARK: Identity

    /// Who a request acts for: the account, and the session serial (0 for a local peer).
    struct Caller {
        var account: UserAccount
        var sessionSerial: UInt64
    }

    func caller(_ request: FrameHeader, _ connection: inout Connection) -> Caller? {
        switch admission(request, &connection) {
        case nil:
            return nil
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

    /// Whether, and as what, the connection may use the service; nil after answering why
    /// not. Cheap (no file is read), so every keystroke of a shell can be checked.
    func admission(_ request: FrameHeader, _ connection: inout Connection) -> Admission? {
        if let peer = connection.localPeer {
            // A non-root agent can only act as itself.
            guard geteuid() == 0 || peer.uid == geteuid() else {
                connection.fail(request, .denied, "this agent runs as uid \(geteuid()) and serves only that user")
                return nil
            }
            return .localPeer(uid: peer.uid, gid: peer.gid)
        }
        guard let session = dbg.sessions.latest(connectionSlot: connection.slot, generation: connection.generation) else {
            connection.fail(request, .unauthenticated, "the distro service needs a session on this connection (Authenticate first)")
            return nil
        }
        return .session(session)
    }

    /// Install and Remove change the system: root only.
    private func administrator(_ request: FrameHeader, _ connection: inout Connection, _ what: String) -> Bool {
        guard let caller = caller(request, &connection) else { return false }
        guard caller.account.uid == 0 else {
            connection.fail(request, .denied, "\(what) needs uid 0 (the caller is uid \(caller.account.uid))")
            return false
        }
        return true
    }

    // MARK: Status, Install, Remove

    private func status(_ request: FrameHeader, _ connection: inout Connection) {
        guard admission(request, &connection) != nil else { return }
        guard root.isInstalled, pending?.kind != .remove else {
            return connection.respond(to: request, with: Distro.StatusResponse(installed: false, path: WireBytes(root.path), size: 0))
        }
        dbg.submit(.diskUsage, path: root.path, reportedAs: root.path, as: nil, request, &connection)
    }

    private func install(_ install: Distro.InstallRequest, _ request: FrameHeader, _ connection: inout Connection) {
        guard administrator(request, &connection, "Install") else { return }
        if let busy = busyWithJob { return connection.fail(request, .busy, busy) }
        var url = install.url.bytes
        if url.isEmpty {
            guard !defaultURL.isEmpty else {
                return connection.fail(request, .unsupported, "no default URL: name an archive, or start dbgd with --distro-url")
            }
            url = defaultURL
        }
        let location: ArchiveLocation
        switch ArchiveLocation.parse(url) {
        case .failure(let failure): return fail(failure, request, &connection)
        case .success(let parsed): location = parsed
        }
        if root.isInstalled {
            return connection.fail(request, .exists, "a distro is already installed at \(root.description) (Remove it first)")
        }
        jobSerial += 1
        let job = InstallJob(root: root, location: location, cancel: CancelFlag(), serial: jobSerial)
        guard jobs.submit(.install(job)) else { return connection.fail(request, .busy, "the distro thread is busy") }
        Log.info("distro: installing \(job.source) into \(root.description)")
        pending = PendingDistroJob(kind: .install, cancel: job.cancel, connectionSlot: connection.slot,
                                   connectionGeneration: connection.generation, request: request)
    }

    private func remove(_ request: FrameHeader, _ connection: inout Connection) {
        guard administrator(request, &connection, "Remove") else { return }
        if let busy = busyWithJob { return connection.fail(request, .busy, busy) }
        let (commands, shells) = activeProcesses
        if commands + shells > 0 {
            return connection.fail(request, .busy, "the distro is in use (\(commands) runs and \(shells) shells); end them first")
        }
        guard root.exists else { return connection.fail(request, .notFound, "no distro is installed at \(root.description)") }
        jobSerial += 1
        guard jobs.submit(.remove(RemoveJob(root: root, serial: jobSerial))) else {
            return connection.fail(request, .busy, "the distro thread is busy")
        }
        Log.info("distro: removing \(root.description)")
        pending = PendingDistroJob(kind: .remove, cancel: CancelFlag(), connectionSlot: connection.slot,
                                   connectionGeneration: connection.generation, request: request)
    }

    private var busyWithJob: String? {
        guard let pending, pending.result == nil else { return nil }
        return pending.kind == .install ? "an install is in progress" : "a removal is in progress"
    }

    /// Distro runs and shells that have not ended.
    var activeProcesses: (commands: Int, shells: Int) {
        let commands = (0..<dbg.commands.capacity).filter {
            dbg.commands[$0].state == .running && dbg.commands[$0].service == ServiceID.distro
        }
        let shells = (0..<dbg.shells.capacity).filter {
            dbg.shells[$0].state != .free && dbg.shells[$0].service == ServiceID.distro
        }
        return (commands.count, shells.count)
    }

    /// The distro thread finished its job: its answer waits for its connection's turn.
    func jobsFinished(_ ready: (Int) -> Void) {
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
                    pending!.result = .success(())
                case .failure(let failure):
                    Log.info("distro: install of \(install.source) failed: \(failure.message)")
                    pending!.result = .failure(failure)
                }
            case .remove(let remove):
                if let failure = remove.result {
                    Log.info("distro: removing \(root.description) failed: \(failure.message)")
                    pending!.result = .failure(failure)
                } else {
                    Log.info("distro: removed \(root.description)")
                    pending!.result = .success(())
                }
            }
            if pending!.connectionSlot < 0 {
                pending = nil  // nobody to answer
            } else {
                ready(pending!.connectionSlot)
            }
        }
    }

    func deliverReplies(to connection: inout Connection) {
        guard let job = pending, let result = job.result, job.connectionSlot == connection.slot,
              job.connectionGeneration == connection.generation,
              connection.transmit.reserveWritable(DbgService.replyRoom) else { return }
        pending = nil
        switch result {
        case .success: connection.respond(to: job.request, with: Empty())
        case .failure(let failure): fail(failure, job.request, &connection)
        }
    }

    /// An install for a connection that closed stops and leaves nothing; a removal goes on.
    func connectionClosed(slot: Int, generation: UInt32) {
        guard let job = pending, job.connectionSlot == slot, job.connectionGeneration == generation else { return }
        if job.result != nil {
            pending = nil
            return
        }
        pending!.connectionSlot = -1
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

    func fail(_ failure: DistroFailure, _ request: FrameHeader, _ connection: inout Connection) {
        connection.fail(request, failure.code, errno: failure.errno, failure.message)
    }
}

/// The Install or Remove in progress, and its result until it is delivered.
struct PendingDistroJob {
    enum Kind {
        case install, remove
    }

    var kind: Kind
    let cancel: CancelFlag
    /// -1 once the connection has closed.
    var connectionSlot: Int
    var connectionGeneration: UInt32
    var request: FrameHeader
    var result: Result<Void, DistroFailure>?
}
