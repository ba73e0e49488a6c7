import DbgClient
import DbgWire
import Testing

/// A dbgd built without a feature (a smaller build profile, or one switch off) has none
/// of it: its flags stop the start naming the switch, its ops are Unsupported saying so,
/// and Hello lists only the services built. Against a build with everything, each case
/// checks the opposite: the flag is taken.
@Suite("Build profiles: left-out features")
struct BuildProfileTests {
    static let flags: [(feature: String, arguments: [String], message: String)] = [
        ("shells", ["--max-shells", "2"], "--max-shells: this dbgd was built without shells (DBG_SHELLS=OFF)"),
        ("streams", ["--max-streams", "2"], "--max-streams: this dbgd was built without streaming processes (DBG_STREAMS=OFF)"),
        ("serial", ["--serial", "/dev/null"], "--serial: this dbgd was built without serial lines (DBG_SERIAL=OFF)"),
        ("tls", ["--require-tls"], "--require-tls: this dbgd was built without TLS (DBG_TLS=OFF)"),
        ("forward", ["--no-forwarding"], "this dbgd was built without port forwarding (DBG_FORWARD=OFF)"),
        ("mdns", ["--mdns"], "--mdns: this dbgd was built without multicast DNS (DBG_MDNS=OFF)"),
        ("distro", ["--distro-url", "file:///x"], "this dbgd was built without the distro service (DBG_DISTRO=OFF)"),
        ("app", ["--rpc-socket", "none"], "this dbgd was built without the application runtime (DBG_APP=OFF)"),
        ("http", ["--http", "127.0.0.1:0"], "--http*: this dbgd was built without the HTTP API (DBG_HTTP=OFF)"),
    ]

    @Test("a left-out feature's flag stops the start with one line naming its switch, and --help leaves it out",
          arguments: flags.indices)
    func flagRefused(_ index: Int) throws {
        let (feature, arguments, message) = Self.flags[index]
        let built = AgentProcess.features.contains(feature)
        #expect(AgentProcess.help.contains(arguments[0] + " ") == built, "--help and \(arguments[0])")
        guard !built else { return }
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + arguments, ready: false)
        #expect(agent.waitForExit() == 2)
        let lines = agent.log.filter { !$0.isEmpty }
        #expect(lines.count == 1 && lines[0].contains(message), "\(lines)")
    }

    @Test("a left-out feature's ops are Unsupported naming the switch; Hello lists the services built")
    func opsRefused() throws {
        let accounts = try AuthenticationTests.accounts()
        let agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags)
        let connection = try agent.connect()
        #expect(try connection.hello(client: "t").services == AgentProcess.services)
        let ops: [(feature: String, service: UInt32, op: UInt16, message: String)] = [
            ("shells", ServiceID.dbg, Dbg.Op.shellOpen.rawValue, "this dbgd was built without shells (DBG_SHELLS=OFF)"),
            ("file-ops", ServiceID.dbg, Dbg.Op.stat.rawValue, "this dbgd was built without the file extension ops (DBG_FILE_OPS=OFF)"),
            ("streams", ServiceID.dbg, Dbg.Op.processStart.rawValue,
             "this dbgd was built without streaming processes (DBG_STREAMS=OFF)"),
            ("distro", ServiceID.distro, Distro.Op.status.rawValue, "this dbgd was built without the distro service (DBG_DISTRO=OFF)"),
            ("forward", ServiceID.dbg, Dbg.Op.streamConnect.rawValue, "this dbgd was built without port forwarding (DBG_FORWARD=OFF)"),
            ("flash", ServiceID.dbg, Dbg.Op.flashOpen.rawValue, "this dbgd was built without flashing (DBG_FLASH=OFF)"),
            ("app", ServiceID.dbg, Dbg.Op.appCall.rawValue, "this dbgd was built without the application runtime (DBG_APP=OFF)"),
        ]
        for (id, (feature, service, op, message)) in ops.enumerated() where !AgentProcess.features.contains(feature) {
            try connection.sendRaw(frameBytes(service: service, op: op, id: UInt32(id + 1), payload: []))
            #expect(connection.expectError(try connection.receive(), .unsupported) == message, "\(feature)")
        }
        #expect(try connection.ping([2]) == [2])
    }
}
