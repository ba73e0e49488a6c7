import DbgClient
import DbgPlatform
import DbgWire
import Glibc

/// What forward and reverse share: the login, the stream mux and its receiving thread,
/// and the line per connection with -v.
struct Forwarding {
    static let verboseSpec = OptionSpec.flag("verbose", "v", "Print a line for each connection and its end.")

    let mux: StreamMux
    let verbose: Bool

    /// A connection of its own, not a connection master's: the master routes the events of
    /// processes and shells, not of streams, and a forward holds its connection anyway.
    init(_ agent: AgentOptions, verbose: Bool) throws {
        let login = try agent.login(ownConnection: true)
        mux = StreamMux(connection: login.connection, token: login.token)
        self.verbose = verbose
    }

    /// Receives on a thread of its own; `gone` runs when the agent goes away.
    func start(gone: @escaping @Sendable (ClientError) -> Void) {
        let mux = self.mux
        mux.onStrayError = { error in Terminal.error("dbg: " + error.message) }
        startThread { gone(mux.receiveAll()) }
    }

    /// Relays stream `id` to the local socket `fd`.
    func relay(_ id: UInt32, fd: Int32, what: String) {
        if verbose { Terminal.error("dbg: " + what + ": open") }
        let verbose = self.verbose
        mux.attach(id, fd: fd) { failure in
            if let failure {
                Terminal.error("dbg: " + what + ": " + failure)
            } else if verbose {
                Terminal.error("dbg: " + what + ": closed")
            }
        }
    }

    static func address(_ text: String, anyPort: Bool, bind: String? = nil) throws -> ForwardAddress {
        let written = bind.map { host in
            text.hasPrefix("tcp:") && !text.dropFirst(4).contains(":") ? "tcp:" + host + ":" + text.dropFirst(4) : text
        } ?? text
        let parsed = Result { () throws(ForwardAddress.Invalid) in try ForwardAddress.parse(Array(written.utf8), anyPort: anyPort) }
        switch parsed {
        case .success(let address): return address
        case .failure(let invalid): throw ValidationError(invalid.message)
        }
    }

    /// Accepts local connections on `listener` for ever, each relayed to a new stream to
    /// `remote` (on a thread of its own while the stream opens).
    func serve(_ listener: Int32, local: ForwardAddress, remote: String, name: @escaping @Sendable (Int) -> String) -> Never {
        var serial = 0
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                Terminal.error("dbg: accept: " + String(cString: strerror(errno)))
                exit(ExitStatus.failure)
            }
            serial += 1
            let what = name(serial)
            LocalSockets.noDelay(fd, local)
            startThread { [self] in
                do {
                    let opened = try mux.connect(remote)
                    relay(opened.streamID, fd: fd, what: what)
                } catch {
                    Terminal.error("dbg: " + what + ": " + ((error as? ClientError)?.message ?? "\(error)"))
                    close(fd)
                }
            }
        }
    }

    static let managementSpecs: [OptionSpec] = [
        .flag("list", nil, "List the ones running (this user's, from this machine): TARGET FROM TO."),
        .option("remove", nil, "FROM", "End the one running from FROM."),
        .flag("remove-all", nil, "End all that are running."),
    ]

    /// --list, --remove or --remove-all, if one was given: done here, with dbg's status.
    static func manage(_ kind: String, _ arguments: ParsedArguments, bind: String? = nil) throws -> Int32? {
        if arguments.flag("list") {
            for entry in ForwardRegistry.entries(kind) { writeOut(1, Array((entry.line + "\n").utf8)) }
            return 0
        }
        let from = try arguments.value("remove").map { try address($0, anyPort: true, bind: bind).description }
        guard from != nil || arguments.flag("remove-all") else { return nil }
        let removed = ForwardRegistry.remove(kind, from: from)
        if let from, removed.isEmpty {
            Terminal.error("dbg: " + kind + ": none running from " + from)
            return ExitStatus.failure
        }
        return 0
    }

    /// The message and status dbg ends with when the agent goes away.
    static func agentGone(_ error: ClientError) -> Never {
        Terminal.error("dbg: the agent went away: " + error.message)
        exit(ExitStatus.failure)
    }
}

struct Forward: Command {
    static let spec = CommandSpec(
        name: "forward",
        abstract: "Forward a local port (or Unix socket) to an address on the board, until interrupted.",
        discussion: """
            dbg forward tcp:8080 tcp:80 makes the board's port 80 reachable at 127.0.0.1:8080 on this \
            machine; dbg forward tcp:2345 unix:/run/app.sock reaches a Unix socket on the board, connected \
            as your user there. Without LOCAL, a free local port is taken and printed. The first line on \
            stdout says where dbg listens. Each connection is a stream of its own with its own flow \
            control: a slow one does not hold up the others. dbg forward --list shows the forwards \
            running, --remove LOCAL ends one.
            """,
        options: [.option("bind", nil, "HOST", "Local address to listen on for tcp:PORT (default 127.0.0.1)."),
                  Forwarding.verboseSpec] + Forwarding.managementSpecs,
        arguments: [ArgumentSpec(name: "[LOCAL] REMOTE", count: .many(0),
                                 help: "tcp:PORT, tcp:HOST:PORT or unix:PATH; REMOTE is on the board.")])

    let agent: AgentOptions
    let addresses: (local: ForwardAddress, remote: ForwardAddress)?
    let managed: Int32?
    let verbose: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        verbose = arguments.flag("verbose")
        managed = try Forwarding.manage("forward", arguments, bind: arguments.value("bind"))
        let words = arguments.arguments
        guard managed == nil else {
            addresses = nil
            return
        }
        guard (1...2).contains(words.count) else { throw ValidationError("expected [LOCAL] REMOTE, e.g. tcp:8080 tcp:80") }
        addresses = (try Forwarding.address(words.count == 2 ? words[0] : "tcp:0", anyPort: true, bind: arguments.value("bind")),
                     try Forwarding.address(words.last!, anyPort: false))
    }

    func run() throws {
        if let managed { throw ExitCode(managed) }
        guard let (local, remote) = addresses else { return }
        let forwarding = try Forwarding(agent, verbose: verbose)
        let (listener, bound) = try attempt("forward") { try LocalSockets.listen(local) }
        if case .unix(let path) = local { ExitCleanup.unlinkAtExit(String(decoding: path, as: UTF8.self)) }
        ForwardRegistry.register(kind: "forward", target: agent.target, from: bound, to: remote.description)
        writeOut(1, Array(("forwarding " + bound + " to " + remote.description + " on the board\n").utf8))
        forwarding.start { error in Forwarding.agentGone(error) }
        let to = remote.description
        forwarding.serve(listener, local: local, remote: to) { "connection " + String($0) + " to " + to }
    }
}

struct Reverse: Command {
    static let spec = CommandSpec(
        name: "reverse",
        abstract: "Make the board listen on a port and forward its connections here, until interrupted.",
        discussion: """
            dbg reverse tcp:9000 tcp:8000 lets programs on the board reach this machine's port 8000 at \
            127.0.0.1:9000 there (tcp:0.0.0.0:9000 for the board's other interfaces; ports below 1024 \
            need root on the board). The first line on stdout says where the board listens. dbg reverse \
            --list shows the ones running, --remove REMOTE ends one.
            """,
        options: [Forwarding.verboseSpec] + Forwarding.managementSpecs,
        arguments: [ArgumentSpec(name: "REMOTE LOCAL", count: .many(0),
                                 help: "tcp:[HOST:]PORT on the board (port 0: any free port); tcp:PORT, tcp:HOST:PORT or unix:PATH here.")])

    let agent: AgentOptions
    let addresses: (remote: ForwardAddress, local: ForwardAddress)?
    let managed: Int32?
    let verbose: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        verbose = arguments.flag("verbose")
        managed = try Forwarding.manage("reverse", arguments)
        guard managed == nil else {
            addresses = nil
            return
        }
        let words = arguments.arguments
        guard words.count == 2 else { throw ValidationError("expected REMOTE LOCAL, e.g. tcp:9000 tcp:8000") }
        addresses = (try Forwarding.address(words[0], anyPort: true), try Forwarding.address(words[1], anyPort: false))
    }

    func run() throws {
        if let managed { throw ExitCode(managed) }
        guard let (remote, local) = addresses else { return }
        let forwarding = try Forwarding(agent, verbose: verbose)
        forwarding.mux.onAccepted = { accepted in
            let what = "connection from " + accepted.peer.string + " to " + local.description
            let id = accepted.streamID
            startThread {
                do {
                    let fd = try LocalSockets.connect(local)
                    forwarding.relay(id, fd: fd, what: what)
                } catch {
                    Terminal.error("dbg: " + what + ": " + ((error as? LocalFailure)?.message ?? "\(error)"))
                    forwarding.mux.abort(id)
                }
            }
        }
        let done = DbgClient.Signal()
        let ended = Box<ClientError?>(nil)
        forwarding.start { error in
            ended.value = error
            done.raise()
        }
        let listening = try attempt("reverse") { try forwarding.mux.listen(remote.description) }
        ForwardRegistry.register(kind: "reverse", target: agent.target, from: listening.address.string, to: local.description)
        writeOut(1, Array(("forwarding " + listening.address.string + " on the board to " + local.description + "\n").utf8))
        while !done.wait(seconds: 3600) {}
        Forwarding.agentGone(ended.value ?? .io("closed"))
    }
}

/// A value one thread sets and another reads after a signal.
final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
