import CSys
import DbgWire
import Glibc

/// One logged-in connection to an agent, shared by later dbg processes of the same user
/// through a Unix socket (`dbg connect`), as ssh's ControlMaster shares one. Each client
/// speaks the ordinary protocol over the socket, without logging in: the master greets it
/// with the session (its token) and an id prefix, and relays its frames both ways.
///
/// Routing needs no table of requests: a client's request ids carry its prefix in their top
/// bits (`ConnectionMaster.prefixShift`), so an answer goes back by its id alone. Events
/// (id 0) go to the client whose answer opened the process or shell they are about, and
/// when a client goes away, what it left running is hung up as the agent itself would on
/// a disconnect (SIGHUP, SIGKILL after the grace time; shells closed).
public final class ConnectionMaster: @unchecked Sendable {
    /// The service of the greeting frame; never sent to an agent.
    public static let service: UInt32 = 0x7F4D_5354
    public static let greetingOp: UInt16 = 1
    /// A client's ids are `prefix << prefixShift | n`, n from 1 to `idMask`.
    public static let prefixShift: UInt32 = 20
    public static let idMask: UInt32 = (1 << 20) - 1
    static let maxPrefix: UInt32 = 4095
    /// What one client may have queued towards it before the agent is read no further.
    static let queueLimit = 16 << 20
    static let killGraceMs: Int64 = 2000
    static let keepaliveMs: Int64 = 30_000

    private let agent: AgentConnection
    /// The agent's socket, polled and read as it is (over TLS, a socketpair's end).
    private let agentSocket: Int32
    private let session: Dbg.SessionInfo
    private let listener: Int32
    private let idleLimitMs: Int64
    private let wake: (read: Int32, write: Int32)
    private var clients: [UInt32: MasterClient] = [:]
    private var owners: [RemoteObject: UInt32] = [:]
    private var pendingKills: [(deadline: Int64, object: RemoteObject)] = []
    private var fromAgent = FrameBuffer()
    /// What goes to the agent, written as its socket takes it: the master never blocks
    /// on the agent (which may itself be waiting for the master to read).
    private var toAgent = SendQueue()
    private var nextPrefix: UInt32 = 1
    private var nextOwnID: UInt32 = 1
    private var lastAgentTraffic = MonotonicClock.milliseconds()
    private var idleSince = MonotonicClock.milliseconds()

    /// Serves `listener` (bound and listening) for `agent`, logged in as `session`;
    /// `idleSeconds` with no client ends it (0: only stop() or the agent ends it).
    public init(agent: AgentConnection, session: Dbg.SessionInfo, listener: Int32, idleSeconds: Int) throws(ClientError) {
        self.agent = agent
        agentSocket = try agent.descriptor
        self.session = session
        self.listener = listener
        idleLimitMs = Int64(idleSeconds) * 1000
        var ends: [Int32] = [-1, -1]
        guard csys_pipe(&ends) == 0 else { throw .io("pipe: \(describe(errno))") }
        wake = (ends[0], ends[1])
        for fd in [listener, wake.read] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    /// Ends run() soon; safe from any thread (a signal's).
    public func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// Relays until stop(), the idle time, or the agent ends; returns why it ended.
    public func run() -> String {
        defer {
            for prefix in Array(clients.keys) { dropClient(prefix) }
            sendOwn(ServiceID.dbg, Dbg.Op.logout.rawValue, Dbg.SessionToken(token: WireBytes(session.token.string)))
            // What is left for the agent (the hang-ups, the logout) gets a second to go out.
            for _ in 0..<100 where toAgent.queued > 0 && toAgent.flush(agentSocket) { MonotonicClock.sleep(milliseconds: 10) }
        }
        while true {
            let now = MonotonicClock.milliseconds()
            if clients.isEmpty && idleLimitMs > 0 && now - idleSince >= idleLimitMs { return "idle for \(idleLimitMs / 1000) s" }
            killOverdue(now)
            if now - lastAgentTraffic >= ConnectionMaster.keepaliveMs {
                lastAgentTraffic = now
                sendOwn(ServiceID.control, Control.Op.ping.rawValue, Control.Ping(data: WireBytes([])))
            }
            var polled = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            // A client that does not read holds the agent up once its queue is full.
            let agentEvents = (clients.values.contains { $0.queued > ConnectionMaster.queueLimit } ? 0 : Int16(POLLIN))
                | (toAgent.queued > 0 ? Int16(POLLOUT) : 0)
            polled.append(pollfd(fd: agentSocket, events: agentEvents, revents: 0))
            // Clients are read only while what they sent can go on to the agent.
            let reading = toAgent.queued < ConnectionMaster.queueLimit ? Int16(POLLIN) : 0
            let order = Array(clients.keys)
            for prefix in order {
                let client = clients[prefix]!
                polled.append(pollfd(fd: client.fd, events: reading | (client.queued > 0 ? Int16(POLLOUT) : 0), revents: 0))
            }
            let ready = poll(&polled, nfds_t(polled.count), 1000)
            if ready < 0 && errno != EINTR { return "poll: \(describe(errno))" }
            if polled[1].revents != 0 { return "stopped" }
            if polled[0].revents & Int16(POLLIN) != 0 { accept() }
            if polled[2].revents & Int16(POLLOUT) != 0 && !toAgent.flush(agentSocket) {
                return "\(agent.target.description) closed the connection"
            }
            if polled[2].revents & ~Int16(POLLOUT) != 0 {
                do throws(ClientError) { try readAgent() } catch { return error.message }
            }
            for (index, prefix) in order.enumerated() where polled[3 + index].revents != 0 {
                serve(prefix, polled[3 + index].revents)
            }
        }
    }

    // MARK: The agent's side

    private func readAgent() throws(ClientError) {
        guard try fromAgent.read(agentSocket, what: agent.target.description) else {
            throw .io("\(agent.target.description) closed the connection")
        }
        lastAgentTraffic = MonotonicClock.milliseconds()
        while let frame = try fromAgent.next(maxPayload: agent.maxPayload, from: agent.target.description) {
            route(frame)
        }
        fromAgent.compact()
    }

    private func route(_ frame: [UInt8]) {
        let header = frame.withUnsafeBytes { FrameHeader(parsing: $0) }
        if header.kind == .event {
            guard let object = RemoteObject(event: header, frame), let prefix = owners[object] else { return }
            clients[prefix]?.enqueue(frame)
            if object.isExit(header.op) { owners[object] = nil }
            return
        }
        guard header.id != 0 else {
            for client in clients.values { client.enqueue(frame) }  // the agent is ending the connection
            return
        }
        let prefix = header.id >> ConnectionMaster.prefixShift
        guard prefix != 0, let client = clients[prefix] else { return }  // the master's own, or a client gone
        var frame = frame
        if header.id & ConnectionMaster.idMask == 0 { FrameBuffer.setID(0, in: &frame) }  // a one-way request's error
        if header.kind == .response, let object = RemoteObject(opened: header, frame) { owners[object] = prefix }
        client.enqueue(frame)
    }

    private func ownID() -> UInt32 {
        defer { nextOwnID = nextOwnID == ConnectionMaster.idMask ? 1 : nextOwnID + 1 }
        return nextOwnID
    }

    /// A request of the master's own (its answer, if any, is dropped).
    private func sendOwn<M: WireCodable>(_ service: UInt32, _ op: UInt16, _ message: M) {
        if let frame = encodedFrame(FrameHeader(kind: .request, service: service, op: op, id: ownID()), message) {
            toAgent.append(frame)
        }
    }

    /// What a client left running: hung up, killed after the grace time unless it ended.
    private func hangUp(_ object: RemoteObject) {
        let token = WireBytes(session.token.string)
        switch object.kind {
        case .dbgShell:
            owners[object] = nil
            sendOwn(ServiceID.dbg, Dbg.Op.shellClose.rawValue, Dbg.ShellCloseRequest(token: token, sessionID: object.id))
        case .distroShell:
            owners[object] = nil
            sendOwn(ServiceID.distro, Distro.Op.shellClose.rawValue, ShellSession(sessionID: object.id))
        case .dbgProcess, .distroProcess:
            owners[object] = 0  // nobody's: its events are dropped until its exit
            signal(object, SIGHUP)
            pendingKills.append((MonotonicClock.milliseconds() + ConnectionMaster.killGraceMs, object))
        }
    }

    private func signal(_ object: RemoteObject, _ number: Int32) {
        if object.kind == .dbgProcess {
            sendOwn(ServiceID.dbg, Dbg.Op.processSignal.rawValue,
                    Dbg.ProcessSignalRequest(token: WireBytes(session.token.string), processID: object.id, signal: number))
        } else {
            sendOwn(ServiceID.distro, Distro.Op.runSignal.rawValue, Distro.RunSignalRequest(processID: object.id, signal: number))
        }
    }

    private func killOverdue(_ now: Int64) {
        while let first = pendingKills.first, first.deadline <= now {
            pendingKills.removeFirst()
            if owners[first.object] == 0 { signal(first.object, SIGKILL) }
        }
    }

    // MARK: Clients

    private func accept() {
        let fd = csys_accept(listener, nil, nil)
        guard fd >= 0 else { return }
        // The socket is 0600 in a 0700 folder; root could still reach it: only this user.
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard csys_peer_credentials(fd, &uid, &gid) == 0, uid == getuid(), let prefix = freePrefix() else {
            close(fd)
            return
        }
        let greeting = FrameHeader(kind: .response, service: ConnectionMaster.service, op: ConnectionMaster.greetingOp,
                                   id: prefix << ConnectionMaster.prefixShift)
        guard let frame = encodedFrame(greeting, session) else {
            close(fd)
            return
        }
        let client = MasterClient(fd: fd, prefix: prefix)
        client.enqueue(frame)
        clients[prefix] = client
    }

    private func freePrefix() -> UInt32? {
        for _ in 0..<ConnectionMaster.maxPrefix {
            let prefix = nextPrefix
            nextPrefix = nextPrefix == ConnectionMaster.maxPrefix ? 1 : nextPrefix + 1
            // Not one in use, nor one whose processes still run.
            if clients[prefix] == nil && !owners.values.contains(prefix) { return prefix }
        }
        return nil
    }

    private func serve(_ prefix: UInt32, _ events: Int16) {
        guard let client = clients[prefix] else { return }
        if events & Int16(POLLOUT) != 0 && !client.flush() { return dropClient(prefix) }
        guard events & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { return }
        do throws(ClientError) {
            guard try client.input.read(client.fd, what: "a client") else { return dropClient(prefix) }
            while var frame = try client.input.next(maxPayload: agent.maxPayload, from: "a client") {
                let header = frame.withUnsafeBytes { FrameHeader(parsing: $0) }
                if header.id == 0 {
                    FrameBuffer.setID(prefix << ConnectionMaster.prefixShift, in: &frame)
                } else if header.id >> ConnectionMaster.prefixShift != prefix {
                    return dropClient(prefix)  // not its id: a confused or hostile client
                }
                if header.service == ServiceID.dbg && header.op == Dbg.Op.logout.rawValue {
                    client.refuse(header, "the session belongs to the connection master (dbg disconnect ends it)")
                    continue
                }
                toAgent.append(frame)
            }
            client.input.compact()
            if !toAgent.flush(agentSocket) { stop() }  // the agent is gone: run() notices
        } catch {
            dropClient(prefix)
        }
    }

    private func dropClient(_ prefix: UInt32) {
        guard let client = clients.removeValue(forKey: prefix) else { return }
        close(client.fd)
        for (object, owner) in owners where owner == prefix { hangUp(object) }
        if clients.isEmpty { idleSince = MonotonicClock.milliseconds() }
    }
}

/// A process or shell on the board, by the service that runs it and its id there.
struct RemoteObject: Hashable {
    enum Kind { case dbgShell, dbgProcess, distroShell, distroProcess }
    let kind: Kind
    let id: UInt32

    /// What an event is about: its payload starts with the shell's or process's id.
    init?(event header: FrameHeader, _ frame: [UInt8]) {
        guard frame.count >= FrameHeader.size + 4 else { return nil }
        let id = frame.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: FrameHeader.size, as: UInt32.self)) }
        switch (header.service, header.op) {
        case (ServiceID.dbg, Dbg.Event.shellOutput.rawValue), (ServiceID.dbg, Dbg.Event.shellExit.rawValue):
            kind = .dbgShell
        case (ServiceID.dbg, Dbg.Event.processStdout.rawValue...Dbg.Event.processExit.rawValue):
            kind = .dbgProcess
        case (ServiceID.distro, Distro.Event.shellOutput.rawValue), (ServiceID.distro, Distro.Event.shellExit.rawValue):
            kind = .distroShell
        case (ServiceID.distro, Distro.Event.runStdout.rawValue...Distro.Event.runExit.rawValue):
            kind = .distroProcess
        default:
            return nil
        }
        self.id = id
    }

    /// What an answer opened (ShellOpen, ProcessStart, distro's ShellOpen and RunStart):
    /// its payload starts with the new id.
    init?(opened header: FrameHeader, _ frame: [UInt8]) {
        switch (header.service, header.op) {
        case (ServiceID.dbg, Dbg.Op.shellOpen.rawValue): kind = .dbgShell
        case (ServiceID.dbg, Dbg.Op.processStart.rawValue): kind = .dbgProcess
        case (ServiceID.distro, Distro.Op.shellOpen.rawValue): kind = .distroShell
        case (ServiceID.distro, Distro.Op.runStart.rawValue): kind = .distroProcess
        default: return nil
        }
        guard frame.count >= FrameHeader.size + 4 else { return nil }
        id = frame.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: FrameHeader.size, as: UInt32.self)) }
    }

    /// Whether `op` is this object's last event.
    func isExit(_ op: UInt16) -> Bool {
        switch kind {
        case .dbgShell: return op == Dbg.Event.shellExit.rawValue
        case .dbgProcess: return op == Dbg.Event.processExit.rawValue
        case .distroShell: return op == Distro.Event.shellExit.rawValue
        case .distroProcess: return op == Distro.Event.runExit.rawValue
        }
    }
}
