import CSys
import DbgWire

/// Authenticate and Logout.
extension DbgService {
    func authenticate(_ auth: Dbg.AuthRequest, _ request: FrameHeader, _ connection: inout Connection) {
        if let problem = DbgService.problem(username: auth.username, password: auth.password) {
            connection.fail(request, .badRequest, problem)
            return
        }
        guard !sessions.isFull else {
            connection.fail(request, .busy, "all \(sessions.capacity) sessions are in use")
            return
        }
        let peer = PeerKey(connection.peer)
        let job = AuthJob(username: auth.username.bytes, password: auth.password.bytes,
                          remoteHost: connection.peer.hostDescription)
        // The job has its own copy; the password does not stay in the receive buffer.
        auth.password.withUnsafeBytes { csys_wipe(UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
        let attempt = AuthAttempt(state: .waiting(job), connectionSlot: connection.slot,
                                  connectionGeneration: connection.generation, request: request, peer: peer,
                                  username: Log.printable(auth.username))
        switch attempts.admit(attempt, peerDescription: connection.peer.hostDescription) {
        case .busy(let reason):
            var discarded = job
            discarded.wipePassword()
            connection.fail(request, .busy, reason)
        case .accepted:
            startDueAttempts(now: MonotonicClock.now())
        }
    }

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

    /// Starts the waiting attempts whose turn has come and arms the timer for the next
    /// one; returns that deadline.
    @discardableResult
    func startDueAttempts(now: Milliseconds) -> Milliseconds? {
        let next = attempts.startDue(now: now, throttle: throttle) { job in workers.submit(.authenticate(job)) }
        if let next { timer.schedule(next) }
        return next
    }

    /// Collects what the workers finished; `ready` gets each connection slot with an
    /// answer to deliver. The throttle learns of a failure here, before the next attempt
    /// of the same peer may start.
    func workersFinished(_ ready: (Int) -> Void) {
        let now = MonotonicClock.now()
        workers.takeFinished { job in
            guard case .authenticate(let auth) = job, let result = auth.result, let attempt = attempts[auth.attempt]
            else { return }
            let index = auth.attempt
            switch result {
            case .success: throttle.recordSuccess(attempt.peer)
            case .failure(.rejected): throttle.recordFailure(attempt.peer, now: now)
            case .failure(.unavailable): break
            }
            guard attempt.connectionSlot >= 0 else {
                // Its connection closed while the worker ran: nobody to answer.
                if case .success(let user) = result { user.pam.map(endPAMSession) }
                attempts[index] = nil
                return
            }
            attempts[index]!.state = .finished(result)
            ready(attempt.connectionSlot)
        }
        startDueAttempts(now: now)
    }

    /// Queues the answer to a finished attempt; returns why the connection must close.
    func answer(_ attempt: AuthAttempt, _ result: Result<AuthenticatedUser, AuthFailure>,
                _ connection: inout Connection) -> String? {
        let who = "'\(attempt.username)' from \(connection.peer.description)"
        switch result {
        case .success(let user):
            guard let session = sessions.create(for: user, connectionSlot: connection.slot, generation: connection.generation) else {
                user.pam.map(endPAMSession)
                connection.fail(attempt.request, .busy, "all \(sessions.capacity) sessions are in use")
                return nil
            }
            connection.loggedIn = true
            Log.info("\(who) logged in (uid \(user.account.uid))")
            connection.respond(to: attempt.request, with: Dbg.SessionInfo(
                token: WireBytes(session.token), username: WireBytes(user.account.name), uid: user.account.uid,
                gid: user.account.gid, home: WireBytes(user.account.home), shell: WireBytes(user.account.shell)))
            return nil
        case .failure(.rejected(let reason)):
            Log.info("authentication failed for \(who): \(reason)")
            connection.fail(attempt.request, .denied, "authentication failed")
            connection.authFailures += 1
            return connection.authFailures >= DbgService.maxFailuresPerConnection
                ? "\(DbgService.maxFailuresPerConnection) failed authentications" : nil
        case .failure(.unavailable(let reason)):
            Log.info("authentication unavailable for \(who): \(reason)")
            connection.fail(attempt.request, .internalError, "authentication is unavailable on this agent (see its log)")
            return nil
        }
    }

    func logout(_ logout: Dbg.SessionToken, _ request: FrameHeader, _ connection: inout Connection) {
        switch sessions.lookup(logout.token, connectionSlot: connection.slot, generation: connection.generation) {
        case .unknown:
            connection.fail(request, .notFound, "no session has this token")
        case .otherConnection:
            connection.fail(request, .denied, "the token belongs to another connection")
        case .found(let index):
            let session = sessions.remove(index)
            Log.info("'\(session.user.account.name)' logged out")
            session.user.pam.map(endPAMSession)
            hangUpShells(ofSession: session.serial)
            files.close { owner, _ in owner == session.serial }
            connection.respond(to: request, with: Empty())
        }
    }

}
