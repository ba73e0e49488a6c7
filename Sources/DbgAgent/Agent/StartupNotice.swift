import CSys
import DbgWire

/// Telling whoever started the agent that it serves, or why it could not: the waiting
/// foreground half of `--background`, and systemd (`Type=notify`: a datagram to
/// NOTIFY_SOCKET, as sd_notify sends it, without libsystemd).
struct StartupNotice: ~Copyable {
    /// The write end of the pipe the foreground half of --background reads.
    private var foreground: OwnedDescriptor?

    init() { foreground = nil }

    private init(foreground: consuming OwnedDescriptor) { self.foreground = .some(foreground) }

    /// The agent serves: the foreground half exits 0 and systemd hears READY=1. Under
    /// --background the terminal is let go of (stderr is the log file by then).
    mutating func serving() {
        StartupNotice.notifySystemd("READY=1")
        guard let pipe = foreground.take() else { return }
        StartupNotice.send("ready", to: pipe.descriptor)
        // Whatever stdin and stdout were (a command substitution waits for their end)
        // become /dev/null, or the log file on a board without /dev/null.
        var null = "/dev/null".withCString { csys_open($0, CSYS_O_RDWR) }
        if null < 0 { null = dup(2) }
        _ = dup2(null, 0)
        _ = dup2(null, 1)
        if Log.file == nil { _ = dup2(null, 2) }
        if null > 2 { FileDescriptor(null).close() }
    }

    /// The agent could not start: `message` goes to the log, and to the foreground half,
    /// which prints it and exits with the agent's status. (The two share the terminal until
    /// the log file is open: then only the foreground half prints it.)
    mutating func failed(_ message: String) {
        guard let pipe = foreground.take() else { return Log.info(message) }
        if Log.file != nil { Log.info(message) }
        StartupNotice.send(message, to: pipe.descriptor)
    }

    static func stopping() { notifySystemd("STOPPING=1") }

    /// How long the foreground half of --background waits for the agent to serve.
    static let startupLimitMs: Milliseconds = 30_000

    /// --background: forks. The parent, still attached to the terminal or the init script,
    /// waits until the child serves or fails and returns the status to exit with
    /// (`.foreground`); the child, in a session of its own, goes on to start the agent.
    /// Called before any thread exists, so the child may run Swift code.
    static func detach() -> Detached {
        let pipe: OwnedPipe
        do throws(Errno) {
            pipe = try OwnedPipe()
        } catch {
            Log.info("--background: cannot make a pipe: \(error.message)")
            return .foreground(exitStatus: 1)
        }
        let child = fork()
        if child < 0 {
            Log.info("--background: cannot fork: \(Errno.current.message)")
            return .foreground(exitStatus: 1)
        }
        if child == 0 {
            _ = setsid()
            return .background(StartupNotice(foreground: pipe.writeEnd()))
        }
        // The parent's copy of the write end is closed, so the child's exit is end of file.
        return .foreground(exitStatus: waitForChild(child, pipe.readEnd()))
    }

    enum Detached: ~Copyable {
        case foreground(exitStatus: Int32)
        case background(StartupNotice)
    }

    /// The foreground half: "ready" means the child serves; anything else is the child's
    /// start-up error, printed here, with the child's exit status.
    private static func waitForChild(_ child: pid_t, _ pipe: borrowing OwnedDescriptor) -> Int32 {
        var message: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        let deadline = MonotonicClock.now() + StartupNotice.startupLimitMs
        while message.count < 4096 {
            // A boot must not hang on an agent that never gets going.
            let now = MonotonicClock.now()
            guard now < deadline else {
                Log.info("--background: the agent (pid \(child)) did not start within \(StartupNotice.startupLimitMs / 1000) s")
                return 1
            }
            guard csys_wait_ready(pipe.rawValue, 0, Int32(clamping: deadline - now)) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { (try? pipe.descriptor.read(into: $0)) ?? 0 }
            if count == 0 { break }
            message += buffer.prefix(count)
        }
        if message == Array("ready".utf8) { return 0 }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && Errno.current == .interrupted {}
        if !message.isEmpty {
            Log.info(String(decoding: message, as: UTF8.self))
        } else if csys_term_signal(status) != 0 {
            Log.info("the agent died during start-up (signal \(csys_term_signal(status)))")
        }
        let code = Int32(csys_exit_code(status))
        return code > 0 ? code : 1
    }

    private static func send(_ text: String, to pipe: FileDescriptor) {
        var text = text
        text.withUTF8 { bytes in
            var written = 0
            try? pipe.writeAll(UnsafeRawBufferPointer(bytes), written: &written)
        }
    }

    /// sd_notify's datagram, when systemd asked for one.
    private static func notifySystemd(_ state: String) {
        guard let value = getenv("NOTIFY_SOCKET"), let address = SocketAddress.notifySocket(String(cString: value)) else { return }
        let fd = socket(CSYS_AF_UNIX, CSYS_SOCK_DGRAM | CSYS_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { return }
        defer { FileDescriptor(fd).close() }
        var state = state
        let sent = state.withUTF8 { bytes in address.withSockaddr { sendto(fd, bytes.baseAddress, bytes.count, 0, $0, $1) } }
        if sent < 0 { Log.info("cannot notify systemd at \(String(cString: value)): \(Errno.current.message)") }
    }
}
