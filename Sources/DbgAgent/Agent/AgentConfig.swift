import DbgWire

/// Everything the agent is told at start-up. Every limit here sizes a pool that is
/// allocated once; nothing grows past it while the agent runs.
struct AgentConfig: Equatable {
    /// Where to accept connections; `[::]:5037` when none of --listen, --unix and
    /// --serial is given.
    var listen: [ListenAddress] = []
    #if DBG_NO_SERIAL
    var servesSerial: Bool { false }
    #else
    /// Serial lines to serve, each one connection at a time.
    var serialLines: [SerialLine.Spec] = []
    var servesSerial: Bool { !serialLines.isEmpty }
    #endif
    var maxConnections = 16
    /// The largest payload accepted or sent (the header's `length`).
    var maxFrame: UInt32 = 1 << 20
    /// A connection must complete its first frame within this time.
    var handshakeTimeoutMs: Milliseconds = 10_000
    /// A connection that sends no frame for this long is closed; 0 disables.
    var idleTimeoutMs: Milliseconds = 0
    /// A network connection that has not logged in is closed after this long without a
    /// frame; 0 disables. Unix sockets and serial lines are trusted by who can reach them.
    var loginIdleTimeoutMs: Milliseconds = 30_000
    /// Network connections one address may hold before they log in: by default half the
    /// table, so one address never fills it, while a host starting many clients at once
    /// (a factory script) rarely meets the limit.
    var maxUnauthPerAddressFlag: Int?
    var maxUnauthPerAddress: Int { maxUnauthPerAddressFlag ?? max(1, maxConnections / 2) }
    var verbose = false

    /// How passwords are checked: PAM in host builds, the shadow file in the firmware.
    var authMethod = Authenticator.Method.buildDefault
    var passwdPath = "/etc/passwd"
    var shadowPath = "/etc/shadow"
    var groupPath = "/etc/group"
    /// Whether an empty shadow password field lets the user in with an empty password.
    var allowEmptyPasswords = false
    /// Authentications waiting or running at once (each has a worker thread).
    var maxAuthInFlight = 4
    var maxSessions = 16

    /// ReadFile: a Size of 0 means `defaultChunk`; larger Sizes are clamped to `maxChunk`
    /// (which also fits in a frame).
    var defaultChunk = 256 << 10
    var maxChunkFlag: Int?
    var maxChunk: Int { min(maxChunkFlag ?? (1 << 20), Int(maxFrame) - 16) }
    /// Interactive shells at once (each with a PTY and a pending-input buffer).
    var maxShells = 8
    /// Commands running at once (each with two capture buffers).
    var maxExec = 16
    /// Streaming processes at once (each with three pipes or a PTY, and an input window).
    var maxStreams = 16
    /// Forwarded streams at once; `forwarding` false refuses forwarding altogether.
    var maxForwards = 64
    var forwarding = true
    /// Bytes of stdout and of stderr kept per command: `--max-output`, or by default
    /// 64 KiB or what fits in a frame next to the other stream.
    var maxOutputFlag: Int?
    var maxOutput: Int { maxOutputFlag ?? min(64 << 10, (Int(maxFrame) - AgentConfig.execResultOverhead) / 2) }
    /// ExecResult bytes besides the two outputs (exit code, two lengths, two bools).
    static let execResultOverhead = 64
    /// TimeoutSec 0 means this.
    var execTimeoutSeconds: Int64 = 30
    /// Larger TimeoutSec values are clamped to this.
    var maxExecTimeoutSeconds: Int64 = 3600

    /// The distro rootfs, and what Install fetches when its request names nothing.
    var distroRoot = "/var/lib/dbgd/distro"
    var distroURL = ""

    /// Running under an init system: detach once serving, the pidfile, the log file and
    /// the size at which it is rotated.
    var background = false
    var pidFile: String?
    var logFile: String?
    var logSizeFlag: Int?
    var logSize: Int { logSizeFlag ?? (1 << 20) }

    /// Answer multicast DNS for _dbg._tcp.local (off unless asked: announcing a board is
    /// the operator's choice), under this instance name (default: the host name).
    var mdns = false
    var mdnsName: String?

    /// The application runtime and its socket.
    var app = AppConfig()
    /// The HTTP + WebSocket API.
    var http = HTTPConfig()

    /// Where the agent keeps what it makes once (the board's TLS key).
    var stateDirectory = "/var/lib/dbgd"
    /// --require-tls: a network connection must start a TLS handshake.
    var requireTLS = false
    /// --authorized-keys: the system's client keys, a file per user.
    var authorizedKeysDirectory = AgentConfig.defaultAuthorizedKeys
    static let defaultAuthorizedKeys = "/etc/dbgd/authorized_keys"

    /// Whether the agent listens on TCP (what its board key is for).
    var servesTCP: Bool {
        effectiveListen.contains { if case .tcp = $0 { return true } else { return false } }
    }

    init() {}

    static let maxConnectionsRange = 1...16384
    static let maxFrameRange: ClosedRange<UInt32> = 4096...(64 << 20)
    static let maxAuthInFlightRange = 1...64
    static let maxSessionsRange = 1...4096
    static let maxExecRange = 1...1024
    static let maxShellsRange = 1...1024
    static let maxStreamsRange = 1...1024
    static let maxForwardsRange = 1...4096
    static let maxOutputRange = 1024...(16 << 20)
    static let logSizeRange = (16 << 10)...(1 << 30)

    /// A rule between flags that the values break, if any: every answer must fit in a frame.
    var inconsistency: ConfigError? {
        let largestResult = 2 * maxOutput + AgentConfig.execResultOverhead
        if Int(maxFrame) < largestResult {
            return ConfigError("--max-output \(maxOutput) needs --max-frame of at least \(largestResult) "
                + "(a RunCommand answer carries stdout and stderr)")
        }
        if logSizeFlag != nil && logFile == nil {
            return ConfigError("--log-size needs --log-file (stderr is not rotated)")
        }
        if background && logFile == nil {
            return ConfigError("--background needs --log-file (the log would go nowhere once the terminal is let go of)")
        }
        if execTimeoutSeconds > maxExecTimeoutSeconds {
            return ConfigError("--exec-timeout \(execTimeoutSeconds) is above --max-exec-timeout \(maxExecTimeoutSeconds)")
        }
        return nil
    }
    /// Pending output a connection may build up before the agent stops taking its requests.
    static let transmitBatch = 64 << 10
    /// After an error that ends a connection, how long unread input is drained so the
    /// peer gets the error frame instead of a reset.
    static let lingerMs: Milliseconds = 2_000

    var effectiveListen: [ListenAddress] { listen.isEmpty && !servesSerial ? [ListenAddress.defaultTCP] : listen }

    var receiveBufferSize: Int { FrameHeader.size + Int(maxFrame) }
    var transmitBufferSize: Int { FrameHeader.size + Int(maxFrame) + AgentConfig.transmitBatch }
}
