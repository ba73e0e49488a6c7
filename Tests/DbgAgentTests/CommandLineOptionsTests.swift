@testable import DbgAgent
import Glibc
import Testing

/// getopt_long keeps global state, so these run one at a time.
@Suite("dbgd command line", .serialized)
struct CommandLineOptionsTests {
    private func parse(_ words: String...) -> Result<CommandLineRequest, ConfigError> {
        let argv = (["dbgd"] + words).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pointers = argv
        return pointers.withUnsafeMutableBufferPointer { argv in
            Result { () throws(ConfigError) in try CommandLineOptions.parse(argc: Int32(words.count + 1), argv: argv.baseAddress!) }
        }
    }

    private func config(_ words: String...) throws -> AgentConfig {
        let argv = (["dbgd"] + words).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pointers = argv
        let result = pointers.withUnsafeMutableBufferPointer { argv in
            Result { () throws(ConfigError) in try CommandLineOptions.parse(argc: Int32(words.count + 1), argv: argv.baseAddress!) }
        }
        guard case .success(.run(let config)) = result else {
            Issue.record("expected a run configuration, got \(result)")
            return AgentConfig()
        }
        return config
    }

    private func errorMessage(_ result: Result<CommandLineRequest, ConfigError>) -> String? {
        if case .failure(let error) = result { return error.message }
        return nil
    }

    @Test("no flags: the documented defaults")
    func defaults() throws {
        let config = try config()
        #expect(config.effectiveListen == [.tcp(host: "::", port: 5037, ipv6: true)])
        #expect(config.maxConnections == 16)
        #expect(config.maxFrame == 1 << 20)
        #expect(config.handshakeTimeoutMs == 10_000)
        #expect(config.idleTimeoutMs == 0)
        #expect(config.authMethod == .pam)  // the host build; the firmware defaults to shadow
        #expect(config.passwdPath == "/etc/passwd" && config.shadowPath == "/etc/shadow")
        #expect(!config.allowEmptyPasswords && config.maxAuthInFlight == 4 && config.maxSessions == 16)
        #expect(config.maxExec == 16 && config.maxOutput == 64 << 10 && config.groupPath == "/etc/group")
        #expect(config.maxShells == 8 && config.defaultChunk == 256 << 10 && config.maxChunk == (1 << 20) - 16)
        #expect(config.execTimeoutSeconds == 30 && config.maxExecTimeoutSeconds == 3600)
    }

    @Test("command flags, and --max-output must fit in --max-frame")
    func commandFlags() throws {
        let config = try config("--max-exec", "4", "--max-output", "8K", "--exec-timeout", "5", "--max-exec-timeout", "60",
                                "--group", "/g")
        #expect(config.maxExec == 4 && config.maxOutput == 8192 && config.groupPath == "/g")
        #expect(config.execTimeoutSeconds == 5 && config.maxExecTimeoutSeconds == 60)
        // Without --max-output, a small frame limit lowers the default to fit.
        #expect(try self.config("--max-frame", "64K").maxOutput == (65536 - 64) / 2)
        #expect(errorMessage(parse("--max-frame", "64K", "--max-output", "64K"))
            == "--max-output 65536 needs --max-frame of at least 131136 (a RunCommand answer carries stdout and stderr)")
        #expect(errorMessage(parse("--exec-timeout", "100", "--max-exec-timeout", "10"))
            == "--exec-timeout 100 is above --max-exec-timeout 10")
        #expect(errorMessage(parse("--max-exec", "0"))?.hasPrefix("--max-exec '0'") == true)
        #expect(try self.config("--max-shells", "3").maxShells == 3)
        let chunks = try self.config("--chunk", "64K", "--max-chunk", "512K")
        #expect(chunks.defaultChunk == 64 << 10 && chunks.maxChunk == 512 << 10)
        #expect(try self.config("--max-frame", "64K").maxChunk == 65536 - 16)
        #expect(errorMessage(parse("--chunk", "10")) == "--chunk '10': expected a size from 1K to 64M")
        #expect(errorMessage(parse("--max-shells", "2000")) == "--max-shells '2000': expected a number from 1 to 1024")
    }

    @Test("authentication flags")
    func authenticationFlags() throws {
        let config = try config("--auth", "shadow", "--passwd", "/p", "--shadow", "/s", "--allow-empty-passwords",
                                "--max-auth", "8", "--max-sessions", "100")
        #expect(config.authMethod == .shadow && config.passwdPath == "/p" && config.shadowPath == "/s")
        #expect(config.allowEmptyPasswords && config.maxAuthInFlight == 8 && config.maxSessions == 100)
        #expect(errorMessage(parse("--auth", "ldap")) == "--auth 'ldap': expected pam or shadow")
        #expect(errorMessage(parse("--max-auth", "65"))?.hasPrefix("--max-auth '65'") == true)
        #expect(errorMessage(parse("--max-sessions", "0"))?.hasPrefix("--max-sessions '0'") == true)
    }

    @Test("limits for connections that have not logged in: defaults, flags, bad values")
    func unauthenticatedLimits() throws {
        let defaults = try config()
        #expect(defaults.loginIdleTimeoutMs == 30_000 && defaults.maxUnauthPerAddress == 8)
        #expect(try config("--max-connections", "1").maxUnauthPerAddress == 1)
        let set = try config("--login-idle-timeout", "0", "--max-unauth-per-address", "3")
        #expect(set.loginIdleTimeoutMs == 0 && set.maxUnauthPerAddress == 3)
        #expect(errorMessage(parse("--max-unauth-per-address", "0"))?.hasPrefix("--max-unauth-per-address '0'") == true)
        #expect(errorMessage(parse("--login-idle-timeout", "x"))?.hasPrefix("--login-idle-timeout 'x'") == true)
    }

    @Test("every flag, long and short")
    func everyFlag() throws {
        let long = try config("--listen", "127.0.0.1:1", "--listen=[::1]:2", "--unix", "/tmp/s", "--max-connections", "300",
                              "--max-frame", "64K", "--handshake-timeout", "3", "--idle-timeout", "60", "--verbose")
        #expect(long.listen == [.tcp(host: "127.0.0.1", port: 1, ipv6: false), .tcp(host: "::1", port: 2, ipv6: true),
                                .unix(path: "/tmp/s")])
        #expect(long.maxConnections == 300)
        #expect(long.maxFrame == 65536)
        #expect(long.handshakeTimeoutMs == 3000)
        #expect(long.idleTimeoutMs == 60_000)
        #expect(long.verbose)
        let short = try config("-l", "0.0.0.0:0", "-c", "2", "-f", "1m", "-v")
        #expect(short.listen == [.tcp(host: "0.0.0.0", port: 0, ipv6: false)])
        #expect(short.maxConnections == 2 && short.maxFrame == 1 << 20 && short.verbose)
    }

    @Test("init-system flags: --background, --pidfile, --log-file, --log-size and their rules")
    func initSystemFlags() throws {
        let defaults = try config()
        #expect(!defaults.background && defaults.pidFile == nil && defaults.logFile == nil && defaults.logSize == 1 << 20)
        let set = try config("--background", "--pidfile", "/run/dbgd.pid", "--log-file", "/var/log/dbgd.log", "--log-size", "64K")
        #expect(set.background && set.pidFile == "/run/dbgd.pid" && set.logFile == "/var/log/dbgd.log" && set.logSize == 64 << 10)
        #expect(try config("--log-file", "l", "--log-size", "1G").logSize == 1 << 30)
        #expect(errorMessage(parse("--log-file", "l", "--log-size", "15K")) == "--log-size '15K': expected a size from 16K to 1G")
        #expect(errorMessage(parse("--log-file", "l", "--log-size", "2G")) == "--log-size '2G': expected a size from 16K to 1G")
        #expect(errorMessage(parse("--log-size", "64K"))?.hasPrefix("--log-size needs --log-file") == true)
        #expect(errorMessage(parse("--background"))?.hasPrefix("--background needs --log-file") == true)
        #expect(errorMessage(parse("--pidfile", "")) == "--pidfile needs a path")
        #expect(errorMessage(parse("--log-file", "")) == "--log-file needs a path")
    }

    @Test("--unix alone means no TCP listener")
    func unixOnly() throws {
        #expect(try config("--unix", "/run/dbgd.sock").effectiveListen == [.unix(path: "/run/dbgd.sock")])
    }

    @Test("HTTP API flags: off by default, repeatable addresses, limits")
    func http() throws {
        #expect(try config().http == HTTPConfig())
        #expect(!(try config()).http.isOn)
        let on = try config("--http", "127.0.0.1:8080", "--http", "[::1]:0", "--http-connections", "4",
                            "--http-session-timeout", "60")
        #expect(on.http.addresses == [.tcp(host: "127.0.0.1", port: 8080, ipv6: false), .tcp(host: "::1", port: 0, ipv6: true)])
        #expect(on.http.connections == 4 && on.http.sessionIdleMs == 60_000 && on.http.isOn)
        #expect(errorMessage(parse("--http", "localhost:80")) == "--http 'localhost:80': 'localhost' is not a numeric IPv4 address")
        #expect(errorMessage(parse("--http-connections", "0"))?.hasPrefix("--http-connections '0'") == true)
        #expect(errorMessage(parse("--http-session-timeout", "0"))?.hasPrefix("--http-session-timeout '0'") == true)
    }

    @Test("help and version")
    func helpAndVersion() {
        #expect(parse("--help") == .success(.help))
        #expect(parse("-V") == .success(.version))
    }

    @Test("bad input gives one clear line")
    func errors() {
        #expect(errorMessage(parse("--bogus")) == "unknown option '--bogus' (see dbgd --help)")
        #expect(errorMessage(parse("--max-frame")) == "option '--max-frame' needs a value (see dbgd --help)")
        #expect(errorMessage(parse("stray")) == "unexpected argument 'stray' (see dbgd --help)")
        #expect(errorMessage(parse("--max-connections", "0"))?.hasPrefix("--max-connections '0'") == true)
        #expect(errorMessage(parse("--max-connections", "lots"))?.hasPrefix("--max-connections 'lots'") == true)
        #expect(errorMessage(parse("--max-frame", "100"))?.hasPrefix("--max-frame '100'") == true)
        #expect(errorMessage(parse("--max-frame", "65M"))?.hasPrefix("--max-frame '65M'") == true)
        #expect(errorMessage(parse("--handshake-timeout", "0"))?.hasPrefix("--handshake-timeout '0'") == true)
        #expect(errorMessage(parse("--idle-timeout", "604801"))?.hasPrefix("--idle-timeout '604801'") == true)
        #expect(errorMessage(parse("--idle-timeout", "-1"))?.hasPrefix("--idle-timeout '-1'") == true)
        #expect(errorMessage(parse("--listen", "localhost:5037")) ==
            "--listen 'localhost:5037': 'localhost' is not a numeric IPv4 address")
    }
}
