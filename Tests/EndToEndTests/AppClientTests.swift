import DbgClient
import DbgWire
import Foundation
import LineSimulator
import Testing

/// `dbg app`, `dbg action`, `dbg backup` and `dbg rpc`: the example application deployed,
/// started, run and backed up through the dbg service's AppCall, over TCP and over a
/// serial line (the same runtime the socket reaches).
@Suite("App runtime through dbg", .serialized, .needs("app"))
struct AppClientTests {
    @Test(arguments: ["tcp", "serial"])
    func deployRunAndBackUp(_ transport: String) throws {
        let app = try AppFixture()
        // Nothing installed yet; the member deploys into the fixture's directory.
        try FileManager.default.removeItem(at: app.directory)
        #expect(chown(app.root.path, AppFixture.memberUID, AppFixture.memberUID + 100) == 0)
        let line = transport == "serial" ? try LineSimulator(baud: SerialTests.baud) : nil
        let agent = try app.start(["--listen", "127.0.0.1:0"] + (line.map { ["--serial", "\($0.agentDevice),\(SerialTests.baud)"] } ?? []))
        var dbg = DbgTool(agent, user: "member", password: "member")
        if let line { dbg.environment["DBG_HOST"] = "serial:\(line.clientDevice),\(SerialTests.baud)" }

        let deploy = try dbg.run(["app", "deploy", "-q", AppFixture.example.path], timeout: 120)
        #expect(deploy.status == 0, "deploy: \(deploy.stderr)")
        let status = try dbg.run(["app", "status", "--json"])
        #expect(status.status == 0 && status.out.contains(#""state":"running""#), "\(status.out) \(status.stderr)")

        let greet = try dbg.run(["action", "run", "greet", "--input", #"{"name": "\#(transport)"}"#])
        #expect(greet.out == #"{"greeting":"hello \#(transport)","by":"appuser"}"# + "\n", "\(greet.out) \(greet.stderr)")
        let failed = try dbg.run(["action", "run", "greet"])
        #expect(failed.status == 1 && failed.stderr.contains("needs a \"name\""), "\(failed.stderr)")
        let list = try dbg.run(["action", "list"])
        #expect(list.out == "greet *\nselftest\n", "\(list.out)")

        // A backup, copied here and compared with the board's file.
        let local = app.root.appendingPathComponent("copy.tar").path
        let backup = try dbg.run(["backup", "create", "-q", "-o", local], timeout: 120)
        #expect(backup.status == 0, "backup: \(backup.stderr)")
        let made = try FileManager.default.contentsOfDirectory(atPath: app.backups.path).filter { $0.hasSuffix(".tar") }
        #expect(made.count == 1)
        if let name = made.first {
            #expect(try Data(contentsOf: URL(fileURLWithPath: local)) == Data(contentsOf: app.backups.appendingPathComponent(name)))
        }
        let listing = try ChildProcess(["tar", "-tf", local])
        #expect(String(decoding: listing.output.readDataToEndOfFile(), as: UTF8.self).contains("example-app/init.log"))
        _ = listing.waitForExit(timeout: 30)

        // Deployed again: an update, and main restarted.
        let again = try dbg.run(["app", "deploy", "-q", AppFixture.example.path], timeout: 120)
        #expect(again.status == 0, "second deploy: \(again.stderr)")
        let kinds = try String(contentsOf: app.home.appendingPathComponent("example-app/init.log"), encoding: .utf8)
        #expect(kinds == "install\nupdate\n")
        let logs = try dbg.run(["app", "logs"])
        #expect(logs.out.contains("main: up as appuser, version 1.0.0"), "\(logs.out)")
        let raw = try dbg.run(["rpc", "eval", #"{"script": "echo $USER"}"#])
        #expect(raw.status == 0 && raw.out.contains(#""stdout":"appuser\n""#), "\(raw.out)")
        let unknown = try dbg.run(["rpc", "nosuch"])
        #expect(unknown.status == 1 && unknown.out.contains("-32601"))

        // Someone outside the runtime's group is refused.
        let outsider = try DbgTool(agent, user: "outsider", password: "outsider").run(["app", "status"])
        #expect(outsider.status == 1 && outsider.stderr.contains("Denied"), "\(outsider.stderr)")
        #expect(agent.isRunning)
    }

    /// One connection may have four AppCall messages waiting; a fifth is Busy at once,
    /// and the socket's callers are served meanwhile (their slots are their own).
    @Test func appCallsPerConnectionAreBounded() throws {
        let app = try AppFixture()
        let agent = try app.start(["--listen", "127.0.0.1:0"])
        let connection = try agent.connect()
        let token = try connection.authenticate(user: "member", password: "member").token
        let slow = Array(#"{"jsonrpc":"2.0","method":"eval","params":{"script":"sleep 2"},"id":1}"#.utf8)
        for id in UInt32(1)...5 {
            try connection.send(service: ServiceID.dbg, op: Dbg.Op.appCall.rawValue, id: id,
                                Dbg.AppCallRequest(token: token, message: WireBytes(slow)))
        }
        let busy = try connection.receive()
        #expect(busy.header.id == 5)
        let answer = String(decoding: try busy.decode(Dbg.AppCallResult.self).message.bytes, as: UTF8.self)
        #expect(answer.contains("-32000") && answer.contains("Busy"), "\(answer)")
        try app.expectPython("status")
        for _ in 1...4 {
            let done = try connection.receive()
            #expect(String(decoding: try done.decode(Dbg.AppCallResult.self).message.bytes, as: UTF8.self).contains(#""exitCode":0"#))
        }
    }
}
