import CSys
import DbgWire

/// What the command line asks for.
enum CommandLineRequest: Equatable {
    case run(AgentConfig)
    case help
    case version
}

/// `dbgd` flags, parsed with getopt_long.
enum CommandLineOptions {
    /// `--help`: the flags of what this dbgd was built with.
    static var usage: String {
        var text = """
            Usage: dbgd [OPTIONS]

            Remote debugging agent: serves the Sutra v2 protocol over TCP and Unix sockets.

            Transports (default: --listen [::]:5037 when neither is given):
              -l, --listen ADDR:PORT        accept TCP on a numeric IPv4 or [IPv6] address;
                                            repeatable; port 0 picks a free port
              -u, --unix PATH               accept on a Unix socket (mode 0600); repeatable
            """ + "\n"
        #if !DBG_NO_SERIAL
        text += """
                  --serial DEV[,BAUD]       serve a serial line (UART, USB gadget ttyGS0) in raw
                                            mode, BAUD a standard rate up to 4000000 (default
                                            115200); repeatable; waits for a device that is
                                            absent, and reopens one that goes away
            """ + "\n"
        #endif
        text += """

            Limits (each sizes a pool allocated once at start-up):
              -c, --max-connections N       concurrent connections (default 16, 1..16384)
              -f, --max-frame BYTES         largest frame payload, K/M suffixes allowed
                                            (default 1M, 4K..64M)
                  --handshake-timeout SEC   first frame must arrive within SEC (default 10)
                  --idle-timeout SEC        close connections silent for SEC (default 0: never)
                  --login-idle-timeout SEC  close network connections that have not logged in
                                            when silent for SEC (default 30; 0: never)
                  --max-unauth-per-address N  network connections one address may hold before
                                            logging in (default: half of --max-connections);
                                            when the table is full, the oldest such connection
                                            of the address holding most makes room
                  --max-auth N              authentications in progress at once, one worker
                                            thread each (default 4, 1..64)
                  --max-sessions N          logged-in sessions (default 16, 1..4096)
                  --max-exec N              commands running at once (default 16, 1..1024)
            """ + "\n"
        #if !DBG_NO_SHELLS
        text += "      --max-shells N            interactive shells at once (default 8, 1..1024)\n"
        #endif
        #if !DBG_NO_STREAMS
        text += "      --max-streams N           streaming processes (dbg exec) at once (default 16, 1..1024)\n"
        #endif
        #if !DBG_NO_FORWARD
        text += """
                  --max-forwards N          forwarded streams (dbg forward, reverse) at once
                                            (default 64, 1..4096)
                  --no-forwarding           refuse port forwarding (StreamConnect, StreamListen)
            """ + "\n"
        #endif
        text += """
                  --max-output BYTES        stdout and stderr kept per command (default 64K, or
                                            less to fit --max-frame, which must hold both)
                  --chunk BYTES             ReadFile chunk when Size is 0 (default 256K)
                  --max-chunk BYTES         larger Sizes are clamped (default 1M, and what fits
                                            in --max-frame)
                  --exec-timeout SEC        when a request says 0 (default 30)
                  --max-exec-timeout SEC    longer requests are clamped (default 3600)

            Authentication:
                  --auth pam|shadow         PAM service "dbgd" (host builds' default) or
                                            crypt(3) against the shadow file (firmware's default)
                  --passwd FILE             user database (default /etc/passwd)
                  --group FILE              supplementary groups (default /etc/group)
                  --shadow FILE             password hashes for --auth shadow (default /etc/shadow)
                  --allow-empty-passwords   an empty shadow password field admits an empty password
            """ + "\n\n"
        #if !DBG_NO_DISTRO
        text += """
            Distro (a Linux rootfs to run commands and shells in):
                  --distro-root DIR         where it is installed (default /var/lib/dbgd/distro)
                  --distro-url URL          what Install fetches when its URL is empty: a path,
                                            file:// or http:// (default: none)
            """ + "\n\n"
        #endif
        text += """
            Running as a service:
                  --background              detach once serving: exit 0 when the agent listens,
                                            or print its start-up error and exit non-zero
                                            (needs --log-file)
                  --pidfile PATH            lock PATH (a second dbgd with it refuses to start),
                                            write the pid once serving, remove it at exit
                  --log-file PATH           log there instead of stderr, appending
                  --log-size BYTES          move the log to PATH.1 past this size (default 1M,
                                            16K..1G)
              Under systemd with Type=notify, readiness is sent to $NOTIFY_SOCKET.
            """ + "\n\n"
        #if !DBG_NO_TLS
        text += """
            TLS (TCP listeners take TLS 1.2 and cleartext on one port, told apart by the first
            byte; Unix sockets and serial lines stay cleartext):
                  --require-tls             take only TLS on TCP: a cleartext client is refused
                                            with an error saying so
                  --authorized-keys DIR     client keys that log USER in without a password
                                            over TLS: DIR/USER (default /etc/dbgd/authorized_keys)
                                            and ~USER/.config/dbgd/authorized_keys, one
                                            fingerprint (SHA256:...) per line

            State:
                  --state-dir DIR           what the agent makes once and keeps: the board's key
                                            for TLS, identity.key (default /var/lib/dbgd; on a
                                            read-only file system a key for this run only, with
                                            a warning)
            """ + "\n\n"
        #endif
        #if !DBG_NO_MDNS
        text += """
            Discovery:
                  --mdns                    answer multicast DNS for _dbg._tcp.local (dbg devices,
                                            dbg -H mdns:NAME): name, addresses, port, version,
                                            architecture, serial number
                  --mdns-name NAME          the service's instance name (default: the host name)
            """ + "\n\n"
        #endif
        #if !DBG_NO_APP
        text += appUsage + "\n\n"
        #endif
        #if !DBG_NO_HTTP
        text += httpUsage + "\n"
        #endif
        text += """
              -v, --verbose                 log every connection and protocol error
              -h, --help                    show this help
              -V, --version                 show the version
            """
        return text
    }

    /// Parses argv; `argv[0]` is the program name.
    static func parse(
        argc: Int32, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    ) throws(ConfigError) -> CommandLineRequest {
        var config = AgentConfig()
        csys_getopt_reset()
        return try optionTable().withUnsafeBufferPointer { (entries) throws(ConfigError) -> CommandLineRequest in
            let options = entries.baseAddress!
            while true {
                let option = getopt_long(argc, argv, shortOptions.utf8StartCChar, options, nil)
                if option == -1 { break }
                let argument = csys_optarg().map { String(cString: $0) } ?? ""
                switch UInt8(truncatingIfNeeded: option) {
                case UInt8(ascii: "h"): return .help
                case UInt8(ascii: "V"): return .version
                case UInt8(ascii: "?"), UInt8(ascii: ":"):
                    // The offending word is the last one getopt looked at.
                    let index = Int(csys_optind()) - 1
                    let word = index > 0 && index < Int(argc) ? argv[index].map { String(cString: $0) } ?? "" : ""
                    let problem = option == Int32(UInt8(ascii: ":")) ? "option '\(word)' needs a value" : "unknown option '\(word)'"
                    throw ConfigError(problem + " (see dbgd --help)")
                case let key:
                    if let error = apply(key, argument, to: &config) { throw error }
                }
            }
            let index = Int(csys_optind())
            if index < Int(argc) {
                let word = argv[index].map { String(cString: $0) } ?? ""
                throw ConfigError("unexpected argument '\(word)' (see dbgd --help)")
            }
            if let problem = config.inconsistency { throw problem }
            return .run(config)
        }
    }

    /// Sets what option `key` says; the error names the flag and the accepted values.
    private static func apply(_ key: UInt8, _ argument: String, to config: inout AgentConfig) -> ConfigError? {
        switch key {
        case UInt8(ascii: "v"):
            config.verbose = true
        case UInt8(ascii: "l"):
            do throws(ConfigError) {
                config.listen.append(try ListenAddress.parseTCP(argument))
            } catch {
                return error
            }
        case UInt8(ascii: "u"):
            guard !argument.isEmpty else { return ConfigError("--unix needs a path") }
            config.listen.append(.unix(path: argument))
        case UInt8(ascii: "c"):
            return setCount(&config.maxConnections, argument, AgentConfig.maxConnectionsRange, "--max-connections")
        case UInt8(ascii: "f"):
            guard let n = parseByteSize(argument), n <= UInt64(AgentConfig.maxFrameRange.upperBound),
                  AgentConfig.maxFrameRange.contains(UInt32(n)) else {
                return ConfigError("--max-frame '\(argument)': expected a size from 4K to 64M")
            }
            config.maxFrame = UInt32(n)
        case Key.handshakeTimeout:
            guard let seconds = parseSeconds(argument), seconds > 0 else {
                return ConfigError("--handshake-timeout '\(argument)': expected whole seconds (1 to 604800)")
            }
            config.handshakeTimeoutMs = seconds * 1000
        case Key.idleTimeout:
            guard let seconds = parseSeconds(argument) else {
                return ConfigError("--idle-timeout '\(argument)': expected whole seconds (0 to 604800)")
            }
            config.idleTimeoutMs = seconds * 1000
        case Key.loginIdleTimeout:
            guard let seconds = parseSeconds(argument) else {
                return ConfigError("--login-idle-timeout '\(argument)': expected whole seconds (0 to 604800)")
            }
            config.loginIdleTimeoutMs = seconds * 1000
        case Key.maxUnauthPerAddress:
            var count = 0
            if let error = setCount(&count, argument, AgentConfig.maxConnectionsRange, "--max-unauth-per-address") { return error }
            config.maxUnauthPerAddressFlag = count
        case Key.auth:
            switch Array(argument.utf8) {
            case Array("pam".utf8):
                #if canImport(CPAM)
                config.authMethod = .pam
                #else
                return ConfigError("--auth pam: this build has no PAM (the static firmware checks /etc/shadow: --auth shadow)")
                #endif
            case Array("shadow".utf8): config.authMethod = .shadow
            default: return ConfigError("--auth '\(argument)': expected pam or shadow")
            }
        case Key.passwd, Key.shadow:
            guard !argument.isEmpty else { return ConfigError("--passwd and --shadow need a file path") }
            if key == Key.passwd { config.passwdPath = argument } else { config.shadowPath = argument }
        case Key.allowEmptyPasswords:
            config.allowEmptyPasswords = true
        case Key.distroRoot, Key.distroURL:
            #if DBG_NO_DISTRO
            return ConfigError("--distro-root, --distro-url: this dbgd was built without the distro service (DBG_DISTRO=OFF)")
            #else
            if key == Key.distroURL {
                config.distroURL = argument
                return nil
            }
            guard argument.utf8.first == UInt8(ascii: "/"), argument.utf8.count > 1 else {
                return ConfigError("--distro-root '\(argument)': needs an absolute path other than /")
            }
            config.distroRoot = argument
            #endif
        case Key.serial:
            #if DBG_NO_SERIAL
            return ConfigError("--serial: this dbgd was built without serial lines (DBG_SERIAL=OFF)")
            #else
            guard let spec = SerialLine.Spec.parse(argument) else {
                return ConfigError("--serial '\(argument)': expected DEV or DEV,BAUD with a standard rate "
                    + "(1200, 2400, ... 115200, 230400, 460800, 921600, 1000000 ... 4000000)")
            }
            config.serialLines.append(spec)
            #endif
        case Key.maxAuth:
            return setCount(&config.maxAuthInFlight, argument, AgentConfig.maxAuthInFlightRange, "--max-auth")
        case Key.chunk, Key.maxChunk:
            let name = key == Key.chunk ? "--chunk" : "--max-chunk"
            guard let n = parseByteSize(argument), n >= 1024, n <= 64 << 20 else {
                return ConfigError("\(name) '\(argument)': expected a size from 1K to 64M")
            }
            if key == Key.chunk { config.defaultChunk = Int(n) } else { config.maxChunkFlag = Int(n) }
        case Key.maxShells:
            #if DBG_NO_SHELLS
            return ConfigError("--max-shells: this dbgd was built without shells (DBG_SHELLS=OFF)")
            #else
            return setCount(&config.maxShells, argument, AgentConfig.maxShellsRange, "--max-shells")
            #endif
        case Key.maxStreams:
            #if DBG_NO_STREAMS
            return ConfigError("--max-streams: this dbgd was built without streaming processes (DBG_STREAMS=OFF)")
            #else
            return setCount(&config.maxStreams, argument, AgentConfig.maxStreamsRange, "--max-streams")
            #endif
        case Key.maxForwards, Key.noForwarding:
            #if DBG_NO_FORWARD
            return ConfigError("--max-forwards, --no-forwarding: this dbgd was built without port forwarding (DBG_FORWARD=OFF)")
            #else
            if key == Key.noForwarding {
                config.forwarding = false
            } else {
                return setCount(&config.maxForwards, argument, AgentConfig.maxForwardsRange, "--max-forwards")
            }
            #endif
        case Key.maxExec:
            return setCount(&config.maxExec, argument, AgentConfig.maxExecRange, "--max-exec")
        case Key.maxOutput:
            guard let n = parseByteSize(argument), n <= UInt64(AgentConfig.maxOutputRange.upperBound),
                  AgentConfig.maxOutputRange.contains(Int(n)) else {
                return ConfigError("--max-output '\(argument)': expected a size from 1K to 16M")
            }
            config.maxOutputFlag = Int(n)
        case Key.execTimeout, Key.maxExecTimeout:
            let name = key == Key.execTimeout ? "--exec-timeout" : "--max-exec-timeout"
            guard let seconds = parseSeconds(argument), seconds > 0 else {
                return ConfigError("\(name) '\(argument)': expected whole seconds (1 to 604800)")
            }
            if key == Key.execTimeout { config.execTimeoutSeconds = Int64(seconds) } else { config.maxExecTimeoutSeconds = Int64(seconds) }
        case Key.group:
            guard !argument.isEmpty else { return ConfigError("--group needs a file path") }
            config.groupPath = argument
        case Key.maxSessions:
            return setCount(&config.maxSessions, argument, AgentConfig.maxSessionsRange, "--max-sessions")
        case Key.background:
            config.background = true
        case Key.pidFile, Key.logFile:
            let name = key == Key.pidFile ? "--pidfile" : "--log-file"
            guard !argument.isEmpty else { return ConfigError("\(name) needs a path") }
            if key == Key.pidFile { config.pidFile = argument } else { config.logFile = argument }
        case Key.mdns:
            #if DBG_NO_MDNS
            return ConfigError("--mdns: this dbgd was built without multicast DNS (DBG_MDNS=OFF)")
            #else
            config.mdns = true
            #endif
        case Key.requireTLS:
            #if DBG_NO_TLS
            return ConfigError("--require-tls: this dbgd was built without TLS (DBG_TLS=OFF)")
            #else
            config.requireTLS = true
            #endif
        case Key.authorizedKeys:
            guard argument.utf8.first == UInt8(ascii: "/") else {
                return ConfigError("--authorized-keys '\(argument)': needs an absolute path")
            }
            config.authorizedKeysDirectory = argument
        case Key.stateDirectory:
            guard argument.utf8.first == UInt8(ascii: "/"), argument.utf8.count > 1 else {
                return ConfigError("--state-dir '\(argument)': needs an absolute path other than /")
            }
            config.stateDirectory = argument
        case Key.mdnsName:
            guard !argument.isEmpty, argument.utf8.count <= 63 else {
                return ConfigError("--mdns-name '\(argument)': expected 1 to 63 bytes")
            }
            config.mdnsName = argument
        case Key.logSize:
            guard let n = parseByteSize(argument), n <= UInt64(AgentConfig.logSizeRange.upperBound),
                  AgentConfig.logSizeRange.contains(Int(n)) else {
                return ConfigError("--log-size '\(argument)': expected a size from 16K to 1G")
            }
            config.logSizeFlag = Int(n)
        default:
            if let handled = applyApp(key, argument, to: &config.app) { return handled }
            if let handled = applyHTTP(key, argument, to: &config.http) { return handled }
            return ConfigError("internal error: unhandled option \(key)")
        }
        return nil
    }

    /// Sets a count flag's value, or says what `flag` accepts.
    private static func setCount(_ value: inout Int, _ argument: String, _ range: ClosedRange<Int>,
                                 _ flag: StaticString) -> ConfigError? {
        guard let n = parseCount(argument, in: range) else {
            return ConfigError("\(flag.text) '\(argument)': expected a number from \(range.lowerBound) to \(range.upperBound)")
        }
        value = n
        return nil
    }

    // The leading ':' makes getopt report a missing value as ':' instead of '?'.
    private static let shortOptions: StaticString = ":l:u:c:f:vhV"

    /// getopt keys of the long-only options.
    private enum Key {
        static let handshakeTimeout: UInt8 = 1
        static let idleTimeout: UInt8 = 2
        static let auth: UInt8 = 3
        static let passwd: UInt8 = 4
        static let shadow: UInt8 = 5
        static let allowEmptyPasswords: UInt8 = 6
        static let maxAuth: UInt8 = 7
        static let maxSessions: UInt8 = 8
        static let maxExec: UInt8 = 9
        static let maxOutput: UInt8 = 10
        static let execTimeout: UInt8 = 11
        static let maxExecTimeout: UInt8 = 12
        static let group: UInt8 = 13
        static let maxShells: UInt8 = 14
        static let chunk: UInt8 = 15
        static let maxChunk: UInt8 = 16
        static let distroRoot: UInt8 = 17
        static let distroURL: UInt8 = 18
        static let serial: UInt8 = 19
        static let loginIdleTimeout: UInt8 = 20
        static let maxUnauthPerAddress: UInt8 = 21
        static let maxStreams: UInt8 = 22
        static let background: UInt8 = 23
        static let pidFile: UInt8 = 24
        static let logFile: UInt8 = 25
        static let logSize: UInt8 = 26
        static let mdns: UInt8 = 27
        static let mdnsName: UInt8 = 28
        static let stateDirectory: UInt8 = 29
        static let requireTLS: UInt8 = 30
        static let authorizedKeys: UInt8 = 31
        static let maxForwards: UInt8 = 32
        static let noForwarding: UInt8 = 33
    }

    /// getopt_long's table, ended by a zero entry.
    private static func optionTable() -> [option] {
        func entry(_ name: StaticString, _ argument: Int32, _ key: UInt8) -> option {
            option(name: name.utf8StartCChar, has_arg: argument, flag: nil, val: Int32(key))
        }
        return [
            entry("listen", CSYS_REQUIRED_ARGUMENT, UInt8(ascii: "l")),
            entry("unix", CSYS_REQUIRED_ARGUMENT, UInt8(ascii: "u")),
            entry("max-connections", CSYS_REQUIRED_ARGUMENT, UInt8(ascii: "c")),
            entry("max-frame", CSYS_REQUIRED_ARGUMENT, UInt8(ascii: "f")),
            entry("handshake-timeout", CSYS_REQUIRED_ARGUMENT, Key.handshakeTimeout),
            entry("idle-timeout", CSYS_REQUIRED_ARGUMENT, Key.idleTimeout),
            entry("login-idle-timeout", CSYS_REQUIRED_ARGUMENT, Key.loginIdleTimeout),
            entry("max-unauth-per-address", CSYS_REQUIRED_ARGUMENT, Key.maxUnauthPerAddress),
            entry("auth", CSYS_REQUIRED_ARGUMENT, Key.auth),
            entry("passwd", CSYS_REQUIRED_ARGUMENT, Key.passwd),
            entry("shadow", CSYS_REQUIRED_ARGUMENT, Key.shadow),
            entry("allow-empty-passwords", CSYS_NO_ARGUMENT, Key.allowEmptyPasswords),
            entry("max-auth", CSYS_REQUIRED_ARGUMENT, Key.maxAuth),
            entry("max-sessions", CSYS_REQUIRED_ARGUMENT, Key.maxSessions),
            entry("max-exec", CSYS_REQUIRED_ARGUMENT, Key.maxExec),
            entry("max-output", CSYS_REQUIRED_ARGUMENT, Key.maxOutput),
            entry("exec-timeout", CSYS_REQUIRED_ARGUMENT, Key.execTimeout),
            entry("max-exec-timeout", CSYS_REQUIRED_ARGUMENT, Key.maxExecTimeout),
            entry("group", CSYS_REQUIRED_ARGUMENT, Key.group),
            entry("max-shells", CSYS_REQUIRED_ARGUMENT, Key.maxShells),
            entry("max-streams", CSYS_REQUIRED_ARGUMENT, Key.maxStreams),
            entry("max-forwards", CSYS_REQUIRED_ARGUMENT, Key.maxForwards),
            entry("no-forwarding", CSYS_NO_ARGUMENT, Key.noForwarding),
            entry("chunk", CSYS_REQUIRED_ARGUMENT, Key.chunk),
            entry("max-chunk", CSYS_REQUIRED_ARGUMENT, Key.maxChunk),
            entry("distro-root", CSYS_REQUIRED_ARGUMENT, Key.distroRoot),
            entry("distro-url", CSYS_REQUIRED_ARGUMENT, Key.distroURL),
            entry("serial", CSYS_REQUIRED_ARGUMENT, Key.serial),
            entry("background", CSYS_NO_ARGUMENT, Key.background),
            entry("pidfile", CSYS_REQUIRED_ARGUMENT, Key.pidFile),
            entry("log-file", CSYS_REQUIRED_ARGUMENT, Key.logFile),
            entry("log-size", CSYS_REQUIRED_ARGUMENT, Key.logSize),
            entry("mdns", CSYS_NO_ARGUMENT, Key.mdns),
            entry("mdns-name", CSYS_REQUIRED_ARGUMENT, Key.mdnsName),
            entry("state-dir", CSYS_REQUIRED_ARGUMENT, Key.stateDirectory),
            entry("require-tls", CSYS_NO_ARGUMENT, Key.requireTLS),
            entry("authorized-keys", CSYS_REQUIRED_ARGUMENT, Key.authorizedKeys),
        ] + (appOptions + httpOptions).map { entry($0.0, CSYS_REQUIRED_ARGUMENT, $0.1) } + [
            entry("verbose", CSYS_NO_ARGUMENT, UInt8(ascii: "v")),
            entry("help", CSYS_NO_ARGUMENT, UInt8(ascii: "h")),
            entry("version", CSYS_NO_ARGUMENT, UInt8(ascii: "V")),
            option(name: nil, has_arg: 0, flag: nil, val: 0),
        ]
    }
}

/// A decimal number within `range`.
func parseCount(_ text: String, in range: ClosedRange<Int>) -> Int? {
    guard let value = parseByteSize(text, allowSuffix: false), value <= UInt64(range.upperBound),
          range.contains(Int(value)) else { return nil }
    return Int(value)
}

/// Whole seconds, at most a week.
func parseSeconds(_ text: String) -> Milliseconds? {
    guard let value = parseByteSize(text, allowSuffix: false), value <= 7 * 86_400 else { return nil }
    return value
}

/// A decimal number with an optional binary suffix: K (KiB), M (MiB), G (GiB).
func parseByteSize(_ text: String, allowSuffix: Bool = true) -> UInt64? {
    var digits = Array(text.utf8)
    var multiplier: UInt64 = 1
    if allowSuffix, let last = digits.last {
        switch last | 0x20 {  // ASCII lower case
        case UInt8(ascii: "k"): multiplier = 1 << 10
        case UInt8(ascii: "m"): multiplier = 1 << 20
        case UInt8(ascii: "g"): multiplier = 1 << 30
        default: break
        }
        if multiplier != 1 { digits.removeLast() }
    }
    guard !digits.isEmpty, digits.count <= 12 else { return nil }
    var value: UInt64 = 0
    for digit in digits {
        guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + UInt64(digit - UInt8(ascii: "0"))
    }
    return value * multiplier
}

extension StaticString {
    var utf8StartCChar: UnsafePointer<CChar> {
        UnsafeRawPointer(utf8Start).assumingMemoryBound(to: CChar.self)
    }
}
