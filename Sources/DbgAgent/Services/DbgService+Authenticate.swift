import CSys
import DbgWire

/// Authenticate and Logout.
extension DbgService {
    func authenticate(_ auth: Dbg.AuthRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        if let problem = SessionStore.problem(username: auth.username, password: auth.password) {
            throw ServiceError(.badRequest, problem)
        }
        let reply = ReplyAddress(connection: connection.ref, request: request)
        if let busy = core.sessions.begin(username: auth.username, password: auth.password, clientKey: connection.clientKey,
                                             from: connection.peer, reply: reply) {
            throw ServiceError(.busy, busy)
        }
    }

    /// Queues the answer to a finished attempt; returns why the connection must close.
    func answer(_ attempt: AuthAttempt, _ result: Result<AuthenticatedUser, AuthFailure>,
                _ connection: inout Connection) -> String? {
        let who = "'\(attempt.username)' from \(connection.peer.description)"
        switch result {
        case .success(let user):
            guard let session = core.sessions.open(for: user, on: connection.ref) else {
                connection.fail(attempt.reply.request, .busy, "all \(core.sessions.sessions.capacity) sessions are in use")
                return nil
            }
            connection.loggedIn = true
            Log.info("\(who) logged in (uid \(user.account.uid))" + (user.byKey ? " with a client key" : ""))
            connection.respond(to: attempt.reply.request, with: Dbg.SessionInfo(
                token: WireBytes(session.token), username: WireBytes(user.account.name), uid: user.account.uid,
                gid: user.account.gid, home: WireBytes(user.account.home), shell: WireBytes(user.account.shell)))
            return nil
        case .failure(.rejected(let reason)):
            Log.info("authentication failed for \(who): \(reason)")
            connection.fail(attempt.reply.request, .denied, "authentication failed")
            return core.sessions.failureEndsConnection(connection.ref)
                ? String(SessionStore.maxFailuresPerConnection) + " failed authentications" : nil
        case .failure(.keyNotListed(let reason)):
            Log.info("key login refused for \(who): \(reason)")
            connection.fail(attempt.reply.request, .denied, "authentication failed")
            return nil
        case .failure(.unavailable(let reason)):
            Log.info("authentication unavailable for \(who): \(reason)")
            connection.fail(attempt.reply.request, .internalError, "authentication is unavailable on this agent (see its log)")
            return nil
        }
    }

    func logout(_ logout: Dbg.SessionToken, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        switch core.sessions.lookup(logout.token, on: connection.ref) {
        case .unknown:
            throw ServiceError(.notFound, "no session has this token")
        case .otherConnection:
            throw ServiceError(.denied, "the token belongs to another connection")
        case .found(let index):
            let session = core.sessions.remove(index)
            Log.info("'\(session.user.account.name)' logged out")
            core.sessionEnded(session)
            connection.respond(to: request, with: Empty())
        }
    }
}
