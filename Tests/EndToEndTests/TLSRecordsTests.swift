import DbgClient
import DbgWire
import Foundation
import Testing

/// After the handshake the agent's loop makes and reads a TLS connection's records with
/// the engine the relay lent it, and dbg's sending and receiving threads do the same on
/// the client's side: bulk data both ways, the file paths (spliced and copied chunks), a
/// connection master's bridge, and the sessions going back to the relay however a
/// connection ends.
@Suite("TLS: records made on the loop and in the client", .needs("tls"))
struct TLSRecordsTests {
    /// 32 MiB natively; 8 MiB under an emulator.
    static var bulkSize: Int { AgentProcess.isEmulated ? 8 << 20 : 32 << 20 }

    static func tlsConnection(_ agent: AgentProcess, key: String) throws -> AgentConnection {
        let (host, port) = try TLSTests.hostPort(agent)
        return try AgentConnection(.tls(host: host, port: port), tls: .pinned(key))
    }

    @Test("bulk data over TLS: pulled (spliced chunks) and pushed with 8 in flight, intact; a /proc file (copied chunks); another TLS connection served meanwhile; a master over TLS")
    func bulkData() throws {
        let fixture = try CommandFixture()
        let agent = try fixture.startAgent()
        let key = try TLSTests.boardKey(agent)
        let witness = try Self.tlsConnection(agent, key: key)
        let connection = try Self.tlsConnection(agent, key: key)
        let session = LoggedIn(connection: connection, token: try connection.authenticate(user: "runner", password: "run").token.string)
        let source = fixture.home + "/bulk.bin"
        let make = try ChildProcess(["sh", "-c", "head -c \(Self.bulkSize + 4321) /dev/urandom > '\(source)' && chmod 644 '\(source)'"])
        _ = make.waitForExit(timeout: 60)

        let pulled = try session.pull("bulk.bin", chunk: 256 << 10, window: 8)
        #expect(try witness.ping([1, 2, 3]) == [1, 2, 3])
        let local = TLSTests.scratch("dbg-tls-pulled")
        try Data(pulled).write(to: local)
        defer { try? FileManager.default.removeItem(at: local) }
        #expect(try sha256(ofFile: local.path) == sha256(ofFile: source))
        try session.push(pulled, to: "copy.bin", chunk: 256 << 10, window: 8)
        #expect(try sha256(ofFile: fixture.home + "/copy.bin") == sha256(ofFile: source))
        let version = try session.readFile("/proc/version", offset: 0, size: 64 << 10)
        #expect(String(decoding: version.data.bytes, as: UTF8.self).hasPrefix("Linux version"))

        // dbg connect: the master polls the agent's socket, so a thread takes the session over.
        var dbg = TLSTests.dbg(agent, config: TLSTests.scratch("dbg-config"))
        dbg.environment["DBG_ACCEPT_NEW"] = "1"
        let runtime = TLSTests.scratch("dbg-run").path
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        dbg.environment["XDG_RUNTIME_DIR"] = runtime
        let connect = try dbg.run(["connect"])
        #expect(connect.status == 0, "\(connect.stderr)")
        for _ in 0..<3 {
            let echo = try dbg.run(["sh", "echo through the master"], environment: ["DBG_PASSWORD": "wrong"])
            #expect(echo.status == 0 && echo.out == "through the master\n", "\(echo.stderr)")
        }
        let back = local.path + ".back"
        let pull = try dbg.run(["pull", "-q", source, back], environment: ["DBG_PASSWORD": "wrong"])
        defer { try? FileManager.default.removeItem(atPath: back) }
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try sha256(ofFile: back) == sha256(ofFile: source))
        #expect(try dbg.run(["disconnect"]).status == 0)
        #expect(try witness.ping([4]) == [4])
    }

    @Test("sessions go back to the relay: with room for 2 connections, 12 TLS connections in turn end mid-handshake, right after it, logged in, or with close_notify; then one more is served")
    func sessionsComeBack() throws {
        let agent = try CommandFixture().startAgent(["--max-connections", "2", "--handshake-timeout", "2"])
        let key = try TLSTests.boardKey(agent)
        let (host, port) = try TLSTests.hostPort(agent)
        let hello = try TLSTests.sh("python3 '\(TLSTests.python)' hello").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let helloBytes = stride(from: 0, to: hello.count - 1, by: 2).compactMap {
            UInt8(hello[hello.index(hello.startIndex, offsetBy: $0)..<hello.index(hello.startIndex, offsetBy: $0 + 2)], radix: 16)
        }
        for round in 0..<12 {
            switch round % 4 {
            case 0:
                let raw = try RawTCP(host: host, port: port)
                raw.send(Array(helloBytes.prefix(helloBytes.count / 2)))
            case 1:
                _ = try Self.tlsConnection(agent, key: key)
            case 2:
                let connection = try Self.tlsConnection(agent, key: key)
                _ = try connection.authenticate(user: "runner", password: "run")
                #expect(try connection.ping([UInt8(round)]) == [UInt8(round)])
            default:
                let connection = try Self.tlsConnection(agent, key: key)
                #expect(try connection.ping([9]) == [9])
                connection.shutdownSending()  // close_notify: the agent answers it and closes
                #expect(throws: ClientError.self) { _ = try connection.receive() }
            }
            // The agent notices each end before the next connection takes the room.
            Thread.sleep(forTimeInterval: 0.2)
        }
        let last = try Self.tlsConnection(agent, key: key)
        #expect(try last.ping([42]) == [42])
        #expect(!agent.log.contains { $0.contains("no session free") }, "\(agent.log)")
        #expect(agent.isRunning)
    }
}
