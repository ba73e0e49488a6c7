import CSys
import DbgWire

/// The application runtime's socket (`--rpc-socket`, seed 002): JSON-RPC 2.0, one
/// message per line each way. A connection's messages are answered in order: while one
/// waits for its calls (a process, a stop, a followed log), the next line is not read,
/// so each connection holds at most one message and one answer. Callers are checked at
/// accept by SO_PEERCRED (root and --rpc-group members); anyone else gets one error line.
final class RPCFrontEnd: FrontEnd {
    let runtime: AppRuntime
    let core: ServiceCore
    let listener: Listener
    var connections: SlotTable<RPCConnection>
    private(set) var number: UInt8 = 0
    private var listenerKind = EventToken.Kind.none
    private var connectionKind = EventToken.Kind.none
    private let passwdPath: String
    private let groupPath: String

    init(runtime: AppRuntime, core: ServiceCore, listener: Listener, capacity: Int, passwdPath: String,
         groupPath: String) throws(StartupError) {
        self.runtime = runtime
        self.core = core
        self.listener = listener
        self.passwdPath = passwdPath
        self.groupPath = groupPath
        do throws(Errno) {
            // One line (a message and its newline) fits in a slot's buffer.
            connections = try SlotTable(capacity: capacity, bufferBytes: runtime.maxMessageBytes + 1) { _, memory in
                RPCConnection(buffer: memory)
            }
        } catch {
            throw StartupError("cannot set up the runtime socket's connections: \(error.message)")
        }
        number = core.register(self)
        runtime.socketFrontEnd = number
        listenerKind = core.loop.register { _, _ in self.accept() }
        connectionKind = core.loop.register { token, readiness in self.ready(token, readiness) }
        do throws(Errno) {
            try core.loop.add(listener.fd, .readable, EventToken(listenerKind))
        } catch {
            throw StartupError("cannot register with epoll: \(error.message)")
        }
    }

    var budgetBytes: Int { connections.budgetBytes }

    func shutdown() {
        for slot in 0..<connections.capacity where connections[slot].fd != nil { close(slot) }
        listener.close()
    }

    private func ref(_ slot: Int) -> ConnectionRef {
        ConnectionRef(frontEnd: number, slot: slot, generation: connections[slot].generation)
    }

    private func accept() {
        for _ in 0..<EventLoop.batchSize {
            let accepted: (FileDescriptor, SocketAddress)?
            do throws(Errno) {
                accepted = try listener.accept()
            } catch {
                Log.info("accept on the runtime socket failed: " + error.message)
                return
            }
            guard let (fd, _) = accepted else { return }
            guard let caller = caller(of: fd), runtime.mayCall(caller) else {
                refuse(fd, AppFailure.notAllowed)
                continue
            }
            guard let slot = (0..<connections.capacity).first(where: { connections[$0].fd == nil }) else {
                refuse(fd, ServiceError(.busy, "all " + String(connections.capacity) + " runtime socket connections are in use"))
                continue
            }
            connections[slot].open(fd, caller: caller)
            do throws(Errno) {
                try core.loop.add(fd, .readable, EventToken(connectionKind, index: UInt32(slot), generation: connections[slot].generation))
                connections[slot].registered = .readable
            } catch {
                close(slot)
            }
        }
    }

    /// Who is at the other end: the uid and gid the kernel reports, with the groups the
    /// group file gives that user.
    private func caller(of fd: FileDescriptor) -> AppCaller? {
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        guard csys_peer_credentials(fd.rawValue, &uid, &gid) == 0 else { return nil }
        var groups = [gid]
        if let account = try? UserAccount.find(uid: uid, inPasswd: passwdPath),
           let listed = try? GroupFile.groups(of: Array(account.name.utf8), primary: account.gid, path: groupPath) {
            groups += listed
        }
        return AppCaller(uid: uid, groups: groups)
    }

    /// One error line, then the connection closes (the write does not wait: a socket
    /// just accepted has room for a line).
    private func refuse(_ fd: FileDescriptor, _ error: ServiceError) {
        let line = AppFailure.refusingMessage(error) + [UInt8(ascii: "\n")]
        _ = line.withUnsafeBytes { try? fd.write($0) }
        fd.close()
    }

    private func ready(_ token: EventToken, _ readiness: Readiness) {
        let slot = Int(token.index)
        guard slot < connections.capacity, connections[slot].fd != nil, connections[slot].generation == token.generation else { return }
        if readiness.readable && !connections[slot].isWaiting && !connections[slot].ended {
            switch connections[slot].receive() {
            case .ended: connections[slot].ended = true
            case .failed: return close(slot)
            case .some: break
            }
        }
        pump(slot)
    }

    /// Lines answered per event at most, so that a connection that sent many small
    /// ones cannot hold the loop; it is served again on its next turn.
    static let linesPerTurn = 64

    /// Answers the lines received while nothing waits, writes what is queued, and closes
    /// a connection whose peer has finished and has nothing left to get.
    private func pump(_ slot: Int) {
        var answered = 0
        while answered < RPCFrontEnd.linesPerTurn {
            guard !connections[slot].isWaiting && connections[slot].outbox.isEmpty,
                  let line = connections[slot].nextLine(maxBytes: runtime.maxMessageBytes) else { break }
            answered += 1
            switch line {
            case .tooLong:
                queue(slot, JSONWriter.encode(JSONRPC.response(id: .null, .failure(JSONRPC.Failure(
                    code: JSONRPC.parseError, message: "Parse error: a line longer than " + String(runtime.maxMessageBytes)
                        + " bytes (skipped up to its end)")))))
            case .message(let range):
                let submitted = runtime.submit(UnsafeRawBufferPointer(rebasing: connections[slot].buffer[range]),
                                               caller: connections[slot].caller!,
                                               owner: ReplyAddress(connection: ref(slot), request: .connectionLevel))
                connections[slot].consume(range.upperBound + 1)
                switch submitted {
                case .answer(let text): if let text { queue(slot, text) }
                case .pending(let message): connections[slot].waitingFor = message
                }
            }
            // The answer goes out now; the next line (pipelined) is taken once it has.
            guard connections[slot].flush() else { return close(slot) }
        }
        guard connections[slot].flush() else { return close(slot) }
        let idle = !connections[slot].isWaiting && connections[slot].outbox.isEmpty
        if connections[slot].ended && idle && !connections[slot].hasLine { return close(slot) }
        // Writable also when lines wait unanswered after this turn: it fires at once, and
        // the next turn answers them.
        let wanted: Interest?
        if !connections[slot].outbox.isEmpty || (idle && answered == RPCFrontEnd.linesPerTurn) {
            wanted = .writable
        } else {
            wanted = connections[slot].isWaiting || connections[slot].ended ? nil : .readable
        }
        guard let fd = connections[slot].fd?.descriptor else { return }
        connections[slot].registered = core.loop.update(fd, from: connections[slot].registered, to: wanted,
                                                        EventToken(connectionKind, index: UInt32(slot), generation: connections[slot].generation))
    }

    private func queue(_ slot: Int, _ text: [UInt8]) {
        connections[slot].outbox += text
        connections[slot].outbox.append(UInt8(ascii: "\n"))
    }

    private func close(_ slot: Int) {
        let closing = ref(slot)
        if let fd = connections[slot].fd?.descriptor, connections[slot].registered != nil { core.loop.remove(fd) }
        connections[slot].reset()
        connections.releasePages(slot)
        core.connectionClosed(closing)
    }

    // MARK: FrontEnd

    func completionsReady(for connection: ConnectionRef) {
        let slot = connection.slot
        guard slot >= 0, slot < connections.capacity, connections[slot].fd != nil,
              connections[slot].generation == connection.generation else { return }
        while let completion = core.completions.first(of: connection) {
            core.completions.remove(completion)
            guard case .appAnswer(let message) = completion.work else { continue }
            if let text = runtime.answerText(message) { queue(slot, text) }
            runtime.release(message)
            connections[slot].waitingFor = nil
        }
        pump(slot)
    }

    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness) {}
    func streamReady(_ stream: Int, of connection: ConnectionRef) {}
}
