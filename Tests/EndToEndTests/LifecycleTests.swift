import DbgClient
import DbgWire
import Foundation
import Testing

@Suite("Transports, start-up and shutdown")
struct LifecycleTests {
    @Test("IPv4, IPv6 and a Unix socket at once")
    func transports() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-\(UUID().uuidString.prefix(8)).sock").path
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--listen", "[::1]:0", "--unix", path])
        #expect(agent.tcpAddresses.count == 2 && agent.unixAddresses == [.unix(path: path)])
        for target in agent.tcpAddresses + agent.unixAddresses {
            #expect(try agent.connect(target).hello(client: "t").version == Control.protocolVersion, "\(target)")
        }
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("[::] also accepts IPv4 (dual stack)")
    func dualStack() throws {
        let agent = try AgentProcess(["--listen", "[::]:0"])
        guard case .tcp(_, let port) = agent.tcp else {
            Issue.record("the agent reported no TCP address for [::]:0")
            return
        }
        #expect(try agent.connect(.tcp(host: "127.0.0.1", port: port)).ping([4]) == [4])
        #expect(try agent.connect(.tcp(host: "::1", port: port)).ping([6]) == [6])
    }

    @Test("SIGTERM and SIGINT shut down cleanly and remove the Unix socket", arguments: [SIGTERM, SIGINT])
    func cleanShutdown(_ signal: Int32) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-\(UUID().uuidString.prefix(8)).sock").path
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--unix", path])
        let connection = try agent.connect()
        #expect(try connection.ping() == [])
        agent.signal(signal)
        #expect(agent.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(agent.log.contains { $0.contains("shutting down") })
        #expect(connection.framesUntilClosed().isEmpty)
    }

    @Test("a stale Unix socket file is replaced; a live one is not taken over")
    func staleUnixSocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-\(UUID().uuidString.prefix(8)).sock").path
        let first = try AgentProcess(["--unix", path])
        let second = try AgentProcess(["--unix", path], ready: false)
        #expect(second.waitForExit() == 1)
        #expect(second.log.contains { $0.contains("another agent is already listening") })
        first.signal(SIGKILL)  // leaves the socket file behind
        _ = first.waitForExit()
        #expect(FileManager.default.fileExists(atPath: path))
        let third = try AgentProcess(["--unix", path])
        #expect(try third.connect(.unix(path: path)).ping([3]) == [3])
    }

    @Test("start-up logs the memory budget and the version")
    func startupLog() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--max-connections", "4", "--max-frame", "64K"])
        let budget = agent.log.first { $0.contains("memory budget") } ?? ""
        // 4 slots of receive (64 KiB + 20) and transmit (64 KiB + 20 + 64 KiB), page-rounded, plus
        // 16 commands x 2 x 32,736 B of capture (+ 64 KiB discard), 8 shells x 68 KiB of input and
        // 16 streaming processes x 256 KiB of input, and 4 TLS sessions x 232 KiB (BearSSL's
        // engine and its records, 64 KiB read ahead of it and 2 x 64 KiB of gathered output),
        // flashing's 6 buffers of a frame each (4 for writes in flight, staging, read-back), and
        // 64 forwarded streams x 128 KiB of pending input.
        // A build without TLS, flashing, forwarding or streaming processes has no pool for them.
        let features = AgentProcess.features
        let total = 16016 - (features.contains("tls") ? 0 : 4 * 232) - (features.contains("flash") ? 0 : 384)
            - (features.contains("forward") ? 0 : 64 * 128) - (features.contains("streams") ? 0 : 16 * 256)
        #expect(budget.hasPrefix("dbgd: memory budget \(total) KiB: 4 connections x 196 KiB"), "\(budget)")
        #expect(budget.contains("64 forwarded streams x 128 KiB") == features.contains("forward"), "\(budget)")
        #expect(budget.contains("flashing 384 KiB") == features.contains("flash"), "\(budget)")
        #expect(budget.contains("16 streaming processes x 256 KiB of input") == features.contains("streams"), "\(budget)")
        #expect(agent.log.contains { $0.contains("tls: 4 sessions x 232 KiB") } == features.contains("tls"), "\(agent.log)")
    }

    @Test("bad flags and unusable addresses exit non-zero with one readable line", arguments: [
        (["--bogus"], Int32(2), "unknown option '--bogus'"),
        (["--max-connections", "0"], 2, "--max-connections '0'"),
        (["--listen", "nonsense"], 2, "--listen 'nonsense'"),
        (["--listen", "192.0.2.1:5037"], 1, "cannot listen on 192.0.2.1:5037"),
        (["--unix", "/nonexistent-dir/dbgd.sock"], 1, "cannot listen on unix:/nonexistent-dir/dbgd.sock"),
        (["--background"], 2, "--background needs --log-file"),
        (["--log-size", "1M"], 2, "--log-size needs --log-file"),
        (["--log-file", "/nonexistent-dir/dbgd.log", "--log-size", "1K"], 2, "--log-size '1K': expected a size from 16K to 1G"),
        (["--log-file", "/nonexistent-dir/dbgd.log"], 2, "--log-file /nonexistent-dir/dbgd.log: No such file or directory"),
        (["--log-file", "/dev/null"], 2, "--log-file /dev/null: not a regular file"),
        (["--pidfile", "/nonexistent-dir/dbgd.pid", "--listen", "127.0.0.1:0"], 1, "--pidfile /nonexistent-dir/dbgd.pid: No such file"),
    ])
    func badStart(_ arguments: [String], _ status: Int32, _ message: String) throws {
        let agent = try AgentProcess(arguments, ready: false)
        #expect(agent.waitForExit() == status)
        let lines = agent.log.filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].contains(message), "\(lines)")
    }

    @Test("the firmware has no PAM: --auth pam is refused at start-up, not at every login",
          .enabled(if: AgentProcess.isFirmware))
    func firmwareRefusesPAM() throws {
        let agent = try AgentProcess(["--listen", "127.0.0.1:0", "--auth", "pam"], ready: false)
        #expect(agent.waitForExit() == 2)
        #expect(agent.log.filter { !$0.isEmpty } == ["dbgd: --auth pam: this build has no PAM (the static firmware checks /etc/shadow: --auth shadow)"],
                "\(agent.log)")
    }

    @Test("a port in use is reported, not retried silently")
    func portInUse() throws {
        let first = try AgentProcess(["--listen", "127.0.0.1:0"])
        let second = try AgentProcess(["--listen", first.tcp.description], ready: false)
        #expect(second.waitForExit() == 1)
        #expect(second.log.contains { $0.contains("Address in use") || $0.contains("Address already in use") })
    }
}
