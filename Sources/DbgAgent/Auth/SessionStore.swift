import CSys
import DbgWire

/// Logging in and the sessions that result, for every front end: the attempts between
/// arrival and answer, the per-address throttle, the authentication threads and the
/// session table.
///
/// Nothing here blocks the loop. An attempt waits out its peer's throttle delay on the
/// timer and runs on a worker thread; when the worker is done, the attempt is posted to
/// the completion queue for its connection, whose front end takes it (`takeAttempt`) and
/// answers.
final class SessionStore {
    static let maxUsernameLength = 256
    static let maxPasswordLength = 1024
    /// The failed login that ends its connection (every front end applies it).
    static let maxFailuresPerConnection = 3

    let authenticator: Authenticator
    /// Authentication (and PAM session ends): `--max-auth` threads of their own, so no
    /// file job can keep anyone from logging in.
    let workers: WorkerPool<WorkerJob>
    private var attempts: AuthAttempts
    private var throttle = AuthThrottle(capacity: 256)
    private(set) var sessions: SessionTable
    /// Failed logins of the connections that have had any.
    private var failures: [(connection: ConnectionRef, count: Int)] = []
    private let timer: DeadlineTimer
    private let completions: CompletionQueue
    /// Logins and failed logins are news.
    private let news: NewsRing

    init(config: AgentConfig, loop: EventLoop, timer: DeadlineTimer, completions: CompletionQueue, news: NewsRing,
         stackSize: Int) throws(Errno) {
        let authenticator = Authenticator(method: config.authMethod, passwdPath: config.passwdPath,
                                          shadowPath: config.shadowPath, groupPath: config.groupPath,
                                          allowEmptyPasswords: config.allowEmptyPasswords,
                                          authorizedKeysDirectory: config.authorizedKeysDirectory)
        self.authenticator = authenticator
        self.timer = timer
        self.completions = completions
        self.news = news
        attempts = AuthAttempts(maxRunning: config.maxAuthInFlight)
        sessions = SessionTable(capacity: config.maxSessions)
        // Each attempt and session needs at most one job at a time.
        workers = try WorkerPool(threads: config.maxAuthInFlight, capacity: AuthAttempts.capacity(config) + config.maxSessions,
                                 stackSize: stackSize) { job in job.perform(with: authenticator) }
        try loop.add(workers.wakeup, .readable, EventToken(loop.register { _, _ in self.workersFinished() }))
    }

    /// Work that can be in flight at once: one attempt per table entry.
    static func capacity(_ config: AgentConfig) -> Int { AuthAttempts.capacity(config) }

    // MARK: Logging in

    /// What is wrong with the credentials' form, naming the field; nil when acceptable.
    static func problem(username: WireBytes, password: WireBytes) -> String? {
        if username.isEmpty { return "Username: must not be empty" }
        if username.count > maxUsernameLength { return "Username: longer than \(maxUsernameLength) bytes" }
        let unusable = username.withUnsafeBytes { $0.contains { $0 == 0 || $0 == UInt8(ascii: ":") || $0 == 0x0a } }
        if unusable { return "Username: contains a NUL, ':' or newline byte" }
        if password.count > maxPasswordLength { return "Password: longer than \(maxPasswordLength) bytes" }
        if password.containsNUL { return "Password: contains a NUL byte" }
        return nil
    }

    /// Takes an attempt to log in (credentials already checked by `problem`); its answer
    /// is posted when it is done. Returns why not (Busy) when it cannot be taken. The
    /// password in `password` is wiped: the attempt has its own copy.
    func begin(username: WireBytes, password: WireBytes, clientKey: [UInt8]? = nil, from peer: SocketAddress,
               reply: ReplyAddress) -> String? {
        let job = AuthJob(username: username.bytes, password: password.bytes, clientKey: clientKey,
                          remoteHost: peer.hostDescription)
        password.withUnsafeBytes { csys_wipe(UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
        guard !sessions.isFull else {
            var discarded = job
            discarded.wipePassword()
            return "all \(sessions.capacity) sessions are in use"
        }
        let attempt = AuthAttempt(state: .waiting(job), reply: reply, peer: PeerKey(peer), username: Log.printable(username))
        switch attempts.admit(attempt, peerDescription: peer.hostDescription) {
        case .busy(let reason):
            var discarded = job
            discarded.wipePassword()
            return reason
        case .accepted:
            startDue(now: MonotonicClock.now())
            return nil
        }
    }

    /// Starts the waiting attempts whose turn has come and arms the timer for the next
    /// one; returns that deadline.
    @discardableResult
    func startDue(now: Milliseconds) -> Milliseconds? {
        let next = attempts.startDue(now: now, throttle: throttle) { job in workers.submit(.authenticate(job)) }
        if let next { timer.schedule(next) }
        return next
    }

    /// Collects what the workers finished and posts each answer. The throttle learns of
    /// a failure here, before the next attempt of the same peer may start.
    func workersFinished() {
        let now = MonotonicClock.now()
        workers.takeFinished { job in
            guard case .authenticate(let auth) = job, let result = auth.result, let attempt = attempts[auth.attempt]
            else { return }
            let index = auth.attempt
            let who = "'" + attempt.username + "' from " + auth.remoteHost
            switch result {
            case .success:
                throttle.recordSuccess(attempt.peer)
                news.add(.login, who + " logged in")
            case .failure(.rejected):
                throttle.recordFailure(attempt.peer, now: now)
                news.add(.loginFailed, "login failed for " + who)
            case .failure(.unavailable), .failure(.keyNotListed):
                news.add(.loginFailed, "login refused for " + who)
            }
            guard !attempt.reply.isDetached else {
                // Its connection closed while the worker ran: nobody to answer.
                if case .success(let user) = result { user.pam.map(endPAM) }
                attempts[index] = nil
                return
            }
            attempts[index]!.state = .finished(result)
            completions.post(.authentication(index), for: attempt.reply.connection)
        }
        startDue(now: now)
    }

    /// A posted attempt, out of the table, with its result (nil if it was not finished,
    /// which posting rules out).
    func takeAttempt(_ index: Int) -> (AuthAttempt, Result<AuthenticatedUser, AuthFailure>)? {
        guard let attempt = attempts[index], case .finished(let result) = attempt.state else { return nil }
        attempts[index] = nil
        return (attempt, result)
    }

    /// Counts a rejected password on `connection`; true when it is the one that must end
    /// the connection.
    func failureEndsConnection(_ connection: ConnectionRef) -> Bool {
        guard let index = failures.firstIndex(where: { $0.connection == connection }) else {
            failures.append((connection, 1))
            return SessionStore.maxFailuresPerConnection <= 1
        }
        failures[index].count += 1
        return failures[index].count >= SessionStore.maxFailuresPerConnection
    }

    // MARK: Sessions

    /// A new session for a user whose password was right; nil when the table is full
    /// (the user's PAM session is then ended).
    func open(for user: AuthenticatedUser, on connection: ConnectionRef) -> Session? {
        guard let session = sessions.create(for: user, on: connection) else {
            user.pam.map(endPAM)
            return nil
        }
        return session
    }

    func lookup(_ token: WireBytes, on connection: ConnectionRef) -> SessionTable.Lookup {
        sessions.lookup(token, on: connection)
    }

    func touch(_ index: Int) { sessions.touch(index, now: MonotonicClock.now()) }

    /// The connection's most recent session.
    func latest(on connection: ConnectionRef) -> Session? { sessions.latest(on: connection) }

    /// Ends a session (Logout); what the session held elsewhere is the caller's to end.
    func remove(_ index: Int) -> Session {
        let session = sessions.remove(index)
        session.user.pam.map(endPAM)
        return session
    }

    /// pam_close_session may block (it can talk to logind): a worker does it.
    private func endPAM(_ session: PAMSession) {
        if !workers.submit(.endSession(session)) { session.end() }
    }

    // MARK: Connections and shutdown

    /// A closed connection's sessions end (`ended` hears of each) and its attempts are
    /// forgotten; one still on a worker finishes and its result is dropped.
    func connectionClosed(_ connection: ConnectionRef, _ ended: (Session) -> Void) {
        failures.removeAll { $0.connection == connection }
        sessions.removeAll(on: connection) { session in
            session.user.pam.map(endPAM)
            ended(session)
        }
        for index in attempts.indices {
            guard let attempt = attempts[index], attempt.reply.connection == connection else { continue }
            switch attempt.state {
            case .running:
                attempts[index]!.reply.detach()  // freed when the worker is done
            case .finished(.success(let user)):
                user.pam.map(endPAM)
                attempts[index] = nil
            case .waiting(var job):
                job.wipePassword()
                attempts[index] = nil
            case .finished:
                attempts[index] = nil
            }
        }
    }

    /// Before the agent exits: every PAM session is closed here (it may block; nothing
    /// else runs any more).
    func shutdown() {
        for index in 0..<sessions.capacity where sessions.isUsed(index) {
            sessions.remove(index).user.pam?.end()
        }
    }
}
