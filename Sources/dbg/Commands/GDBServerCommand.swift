import DbgClient
import DbgPlatform
import DbgWire
import Glibc

/// `dbg gdbserver`: gdbserver on the board on a free port there, that port forwarded to
/// one here, and the line to give gdb. gdbserver's own lines go to stderr; dbg ends with
/// it (and ends it when dbg itself is ended: the agent hangs up a process whose
/// connection closes).
struct GDBServer: Command {
    static let spec = CommandSpec(
        name: "gdbserver",
        abstract: "Debug a program on the board with gdb here: gdbserver there, its port forwarded.",
        discussion: """
            dbg gdbserver ./app --flag starts gdbserver on the board (it must be installed there) for one \
            debugging session, forwards its port, and prints the line for gdb: target remote localhost:PORT. \
            With --attach PID, gdbserver attaches to a running process instead. dbg exits with \
            gdbserver's status.
            """,
        options: [.option("attach", nil, "PID", "Attach to this running process instead of starting PROGRAM."),
                  .option("port", nil, "PORT", "Local port for gdb (default: a free one)."),
                  Forwarding.verboseSpec],
        arguments: [ArgumentSpec(name: "[PROGRAM [ARG...]]", count: .passthrough, help: "The program on the board and its arguments.")])

    let agent: AgentOptions
    let words: [String]
    let attach: Int?
    let port: Int
    let verbose: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        words = arguments.arguments
        attach = try arguments.int("attach", in: 1...Int(Int32.max))
        port = try arguments.int("port", 0, in: 0...65535)
        verbose = arguments.flag("verbose")
        if (attach == nil) == words.isEmpty {
            throw ValidationError(attach == nil ? "nothing to debug: dbg gdbserver PROGRAM [ARGS...], or --attach PID"
                                                : "--attach PID takes no PROGRAM")
        }
    }

    func run() throws {
        let forwarding = try Forwarding(agent, verbose: verbose)
        let mux = forwarding.mux
        let listening = DbgClient.Signal()
        let exited = DbgClient.Signal()
        let exit = Box<ProcessExitEvent?>(nil)
        mux.onOtherEvent = { frame in
            switch Dbg.Event(rawValue: frame.header.op) {
            case .processStdout, .processStderr:
                guard let data = try? frame.decode(ProcessData.self) else { return }
                writeOut(2, data.data.bytes)
                if GDBServer.says(data.data.bytes, "Listening on port") { listening.raise() }
            case .processExit:
                exit.value = try? frame.decode(ProcessExitEvent.self)
                exited.raise()
                listening.raise()
            default:
                break
            }
        }
        forwarding.start { error in Forwarding.agentGone(error) }
        // A port free on the board: the kernel picks one for a listener given back at once.
        let boardPort = try attempt("gdbserver") { () throws(ClientError) -> UInt16 in
            let probe = try mux.listen("tcp:127.0.0.1:0")
            try mux.unlisten(probe.listenerID)
            guard let port = probe.address.string.split(separator: ":").last.flatMap({ UInt16($0) }) else {
                throw .malformed("StreamListening: no port in " + probe.address.string)
            }
            return port
        }
        var spec = AgentConnection.ProcessSpec()
        let target = ["--once", "127.0.0.1:" + String(boardPort)]
        spec.argv = (["gdbserver"] + target + (attach.map { ["--attach", String($0)] } ?? words)).map { Array($0.utf8) }
        do throws(ClientError) {
            _ = try mux.startProcess(spec)
        } catch {
            if case .remote(let code, _, _) = error, code == .notFound {
                Terminal.error("dbg: gdbserver: the board has no gdbserver on its PATH (install it there: apt install "
                    + "gdbserver, or BR2_PACKAGE_GDB with gdbserver in Buildroot)")
                throw ExitCode(ExitStatus.failure)
            }
            Terminal.error("dbg: gdbserver: " + error.message)
            throw ExitCode(status(of: error))
        }
        _ = listening.wait(seconds: 60)
        if exited.wait(seconds: 0) { finish(exit.value) }
        let local = ForwardAddress.tcp(host: "127.0.0.1", port: UInt16(port), ipv6: false)
        let (listener, bound) = try attempt("gdbserver") { try LocalSockets.listen(local) }
        writeOut(1, Array(("target remote localhost:" + (bound.split(separator: ":").last.map(String.init) ?? "?") + "\n").utf8))
        let remote = "tcp:127.0.0.1:" + String(boardPort)
        startThread { forwarding.serve(listener, local: local, remote: remote) { _ in "gdb's connection" } }
        while !exited.wait(seconds: 3600) {}
        finish(exit.value)
    }

    /// Whether gdbserver's output holds `words` (bytes compared: String's contains would
    /// pull _StringProcessing into the client).
    static func says(_ output: [UInt8], _ words: String) -> Bool {
        let needle = Array(words.utf8)
        guard output.count >= needle.count else { return false }
        return (0...(output.count - needle.count)).contains { output[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// dbg's status is gdbserver's.
    private func finish(_ exit: ProcessExitEvent?) -> Never {
        Glibc.exit(exit.map { Int32(truncatingIfNeeded: $0.exitCode) } ?? ExitStatus.failure)
    }
}
