import CSys
import DbgWire

/// The requests: each head read strictly (`HTTPRequestHead`), its body by Content-Length,
/// then routed. REST under /api/v1/ (auth, systems, news), the WebSocket upgrade at
/// /api/v1/ws/, the console at /.
extension HTTPFrontEnd {
    /// Serves the next complete request; false when none is complete yet (or an answer
    /// is still going out: requests are answered one at a time, in order).
    func serveRequest(_ slot: Int) -> Bool {
        guard connections[slot].transmit.isEmpty, !connections[slot].closeAfterFlush,
              !connections[slot].receive.isEmpty else { return false }
        if !connections[slot].headStarted {
            connections[slot].headStarted = true
            connections[slot].lastActivity = MonotonicClock.now()
            core.timer.schedule(connections[slot].lastActivity + config.handshakeTimeoutMs)
        }
        let bytes = connections[slot].receive.readable
        let parsed: HTTPRequestHead.Parse
        do throws(HTTPRequestHead.Refusal) {
            parsed = try HTTPRequestHead.parse(bytes, maxHeadBytes: 8192, maxBody: UInt64(HTTPConnection.maxBody))
        } catch {
            // The next request's start cannot be found after a malformed one: the answer
            // is the last.
            respond(slot, .error(error.status, error.reason.text), keepAlive: false)
            return false
        }
        guard case .complete(let head, let headLength) = parsed else { return false }
        guard bytes.count >= headLength + Int(head.contentLength) else { return false }
        let request = HTTPRequest(head: head, bytes: bytes, headLength: headLength)
        connections[slot].headStarted = false
        route(slot, request)
        // Consumed after routing: the routes read the request where it lies. An upgrade
        // has taken its head already (what follows are frames).
        if connections[slot].phase != .webSocket && connections[slot].isOpen {
            if !request.body.isEmpty {
                // A password goes no further than its check.
                let body = UnsafeMutableRawBufferPointer(mutating: request.bodyBytes)
                csys_wipe(body.baseAddress, body.count)
            }
            connections[slot].receive.didRead(request.body.upperBound)
        }
        return true
    }

    private func route(_ slot: Int, _ request: HTTPRequest) {
        let keepAlive = request.head.keepsAlive
        let method = request.head.method
        func allow(_ methods: String) {
            respond(slot, .error(405, "method not allowed here: use " + methods, fields: ["Allow: " + methods]), keepAlive: keepAlive)
        }
        if request.isPath("/") || request.isPath("/index.html") {
            guard method == .get || method == .head else { return allow("GET, HEAD") }
            var page = WebConsolePage.response
            page.omitBody = method == .head
            return respond(slot, page, keepAlive: keepAlive)
        }
        if request.isPath("/api/v1/auth") {
            switch method {
            case .post: return login(slot, request)
            case .get, .head: return whoAmI(slot, request)
            case .delete: return logout(slot, request)
            default: return allow("GET, POST, DELETE")
            }
        }
        if request.isPath("/api/v1/systems") {
            guard method == .get || method == .head else { return allow("GET") }
            let session = currentSession(request, allowQuery: false)
            return answer(slot, request, .json(200, SystemReport.systems(detailed: session != nil, core: core, extra: statusProviders)))
        }
        if request.isPath("/api/v1/news") {
            guard method == .get || method == .head else { return allow("GET") }
            guard currentSession(request, allowQuery: false) != nil else { return unauthorized(slot, request) }
            return answer(slot, request, .json(200, newsJSON()))
        }
        if request.isPath("/api/v1/ws/") || request.isPath("/api/v1/ws") {
            guard method == .get else { return allow("GET") }
            return upgrade(slot, request, channels: false)
        }
        if request.isChannelPath {
            #if DBG_NO_CHANNELS
            return answer(slot, request, .error(501, "the channel protocol (seed 004) is not built into this agent"))
            #else
            guard method == .get else { return allow("GET") }
            return upgrade(slot, request, channels: true)
            #endif
        }
        answer(slot, request, .error(404, "no such resource (the API is under /api/v1/: auth, systems, news, ws/; channels at /wsv2/TOKEN)"))
    }

    /// An answer to a request that keeps the connection as the request asked.
    func answer(_ slot: Int, _ request: HTTPRequest, _ response: HTTPResponse) {
        var response = response
        response.omitBody = request.head.method == .head
        respond(slot, response, keepAlive: request.head.keepsAlive)
    }

    private func unauthorized(_ slot: Int, _ request: HTTPRequest) {
        answer(slot, request, .error(401, "log in first: POST /api/v1/auth", fields: ["WWW-Authenticate: Bearer"]))
    }

    /// The session a request's token names (see `HTTPRequest.token`), noted as used. A
    /// cookie from a cross-site page counts for nothing.
    func currentSession(_ request: HTTPRequest, allowQuery: Bool) -> (index: Int, session: Session)? {
        guard let (token, source) = request.token(allowQuery: allowQuery) else { return nil }
        if source == .cookie && request.isCrossOrigin { return nil }
        return session(ofToken: token)
    }

    /// The session of /wsv2/TOKEN (the channel protocol): the path's token, of a session
    /// made here or by a Sutra Authenticate (the production protocol has one login for
    /// all its front ends); used now.
    func channelSession(_ request: HTTPRequest) -> (index: Int, session: Session)? {
        guard let token = request.channelToken, let index = core.sessions.sessions.index(ofToken: WireBytes(token)) else { return nil }
        return used(index)
    }

    /// A session made through this front end (POST /api/v1/auth), used now.
    private func session(ofToken token: [UInt8]) -> (index: Int, session: Session)? {
        guard case .found(let index) = core.sessions.lookup(WireBytes(token), on: sessionHolder) else { return nil }
        return used(index)
    }

    /// The session in slot `index`, marked as used now.
    func used(_ index: Int) -> (index: Int, session: Session) {
        core.sessions.touch(index)
        return (index, core.sessions.sessions[index])
    }

    // MARK: /api/v1/auth

    private func login(_ slot: Int, _ request: HTTPRequest) {
        if request.isCrossOrigin { return answer(slot, request, .error(403, "a login from another site's page is refused")) }
        let body: JSONValue
        do throws(JSONError) {
            body = try JSONReader.parse(request.bodyBytes, maxDepth: 4, maxBytes: HTTPConnection.maxBody)
        } catch {
            return answer(slot, request, .error(400, "the body must be JSON {\"user\": ..., \"password\": ...}: " + error.message))
        }
        guard case .string(var user)? = body["user"] ?? body["username"], case .string(var password)? = body["password"] else {
            return answer(slot, request, .error(400, "the body must be JSON {\"user\": ..., \"password\": ...} with two strings"))
        }
        defer {
            user.withUnsafeMutableBytes { csys_wipe($0.baseAddress, $0.count) }
            password.withUnsafeMutableBytes { csys_wipe($0.baseAddress, $0.count) }
        }
        if let problem = SessionStore.problem(username: WireBytes(user), password: WireBytes(password)) {
            return answer(slot, request, .error(400, problem))
        }
        let reply = ReplyAddress(connection: ref(slot), request: .connectionLevel)
        if let busy = core.sessions.begin(username: WireBytes(user), password: WireBytes(password), from: connections[slot].peer,
                                          reply: reply) {
            return answer(slot, request, .error(503, busy, fields: ["Retry-After: 1"]))
        }
        connections[slot].phase = .awaitingLogin
        connections[slot].answerKeepsAlive = request.head.keepsAlive
    }

    /// The worker checked the password: the token and a cookie, or 401.
    func loginFinished(_ slot: Int, attempt index: Int) {
        guard connections[slot].phase == .awaitingLogin, let (attempt, result) = core.sessions.takeAttempt(index) else { return }
        connections[slot].phase = .requests
        let keepAlive = connections[slot].answerKeepsAlive
        let who = "'\(attempt.username)' from \(connections[slot].peer.description) (HTTP)"
        switch result {
        case .success(let user):
            makeRoomForSession()
            guard let session = core.sessions.open(for: user, on: sessionHolder) else {
                return respond(slot, .error(503, "all \(core.sessions.sessions.capacity) sessions are in use"), keepAlive: keepAlive)
            }
            Log.info("\(who) logged in (uid \(user.account.uid))")
            let token = String(decoding: session.token, as: UTF8.self)
            let cookie = "Set-Cookie: " + HTTPRequest.cookieName.text + "=" + token + "; Path=/; HttpOnly; SameSite=Strict; Max-Age="
                + String(config.http.sessionIdleMs / 1000)
            var fields = userFields(session)
            fields.insert(JSONMember("token", .string(session.token)), at: 0)
            respond(slot, .json(200, .object(fields), fields: [cookie]), keepAlive: keepAlive)
        case .failure(.rejected(let reason)):
            Log.info("authentication failed for \(who): \(reason)")
            let ends = core.sessions.failureEndsConnection(ref(slot))
            respond(slot, .error(401, "authentication failed"), keepAlive: keepAlive && !ends)
        case .failure(.keyNotListed(let reason)):
            Log.info("key login refused for \(who): \(reason)")
            respond(slot, .error(401, "authentication failed"), keepAlive: keepAlive)
        case .failure(.unavailable(let reason)):
            Log.info("authentication unavailable for \(who): \(reason)")
            respond(slot, .error(500, "authentication is unavailable on this agent (see its log)"), keepAlive: keepAlive)
        }
    }

    /// HTTP sessions take at most half of --max-sessions, so that scripts which log in
    /// and never log out cannot keep Sutra clients out: at the limit, the one unused for
    /// longest ends.
    private func makeRoomForSession() {
        let table = core.sessions.sessions
        let mine = (0..<table.capacity).filter { table.isUsed($0) && table[$0].connection == sessionHolder }
        guard mine.count >= HTTPFrontEnd.sessionShare(config),
              let oldest = mine.min(by: { table[$0].lastUsed < table[$1].lastUsed }) else { return }
        let session = core.sessions.remove(oldest)
        Log.info("'\(session.user.account.name)' logged out: the HTTP API's \(mine.count) sessions are its most "
            + "(half of --max-sessions), and this one was unused for longest")
        core.sessionEnded(session)
    }

    static func sessionShare(_ config: AgentConfig) -> Int { max(1, config.maxSessions / 2) }

    private func whoAmI(_ slot: Int, _ request: HTTPRequest) {
        guard let (_, session) = currentSession(request, allowQuery: false) else { return unauthorized(slot, request) }
        answer(slot, request, .json(200, .object(userFields(session))))
    }

    private func logout(_ slot: Int, _ request: HTTPRequest) {
        if request.isCrossOrigin { return answer(slot, request, .error(403, "a logout from another site's page is refused")) }
        guard let (index, _) = currentSession(request, allowQuery: false) else { return unauthorized(slot, request) }
        let session = core.sessions.remove(index)
        Log.info("'\(session.user.account.name)' logged out (HTTP)")
        core.sessionEnded(session)
        answer(slot, request, .json(200, .object([JSONMember("success", .bool(true))]),
                                    fields: ["Set-Cookie: " + HTTPRequest.cookieName.text + "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]))
    }

    /// Who a session is: user, uid, gid, groups, home, shell, since (seconds since the epoch).
    private func userFields(_ session: Session) -> [JSONMember] {
        let account = session.user.account
        return [JSONMember("user", .string(account.name)), JSONMember("uid", .integer(Int64(account.uid))),
                JSONMember("gid", .integer(Int64(account.gid))),
                JSONMember("groups", .array(account.groups.map { .integer(Int64($0)) })),
                JSONMember("home", .string(account.home)), JSONMember("shell", .string(account.shell)),
                JSONMember("since", .integer(Int64(session.since / 1000)))]
    }

    // MARK: /api/v1/news

    private func newsJSON() -> JSONValue {
        .array(core.news.newestFirst.map { item in
            .object([JSONMember("id", .integer(Int64(item.serial))), JSONMember("time", .integer(Int64(item.time / 1000))),
                     JSONMember("kind", .string(item.kind.rawValue)), JSONMember("text", .string(item.text))])
        })
    }
}
