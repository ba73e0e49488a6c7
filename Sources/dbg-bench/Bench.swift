import ArgumentParser
import CSys
import DbgClient
import LineSimulator
import DbgWire
import Foundation

/// Load generator for Scripts/bench: prints one line per figure, `name: value unit`.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbg-bench",
        abstract: "Measure a running dbgd.",
        subcommands: [PingBench.self, FanoutBench.self, IdleBench.self, AuthBench.self, ExecBench.self, ShellBench.self, StreamBench.self, FilesBench.self, DistroBench.self, SerialBench.self, SerialFlashBench.self,
                      HashCommand.self]
    )
}

struct PingBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Ping round-trip time (sequential) and pipelined ping throughput (one connection)."
    )

    @OptionGroup var agent: AgentAddress

    @Option(help: "Sequential round trips to time.")
    var roundTrips: Int = 2000

    @Option(help: "Pings sent back to back on one connection for the throughput figure.")
    var pipelined: Int = 2_000_000

    func run() throws {
        let target = try agent.target()
        let connection = try AgentConnection(target)
        _ = try connection.hello(client: "dbg-bench")

        let rtt = try Timings(roundTrips, warmUp: 100) { _ = try connection.ping() }
        print("ping_rtt_median: \(String(format: "%.1f", rtt.median * 1000)) us")
        print("ping_rtt_p99: \(String(format: "%.1f", rtt.p99 * 1000)) us")

        let rate = try pipelinedRate(target)
        print("ping_pipelined: \(Int(rate)) requests/s (\(pipelined) pings, one connection)")
    }

    /// One thread sends every ping while this one reads the answers.
    private func pipelinedRate(_ target: AgentTarget) throws -> Double {
        let connection = try AgentConnection(target)
        let count = pipelined
        let start = DispatchTime.now().uptimeNanoseconds
        // Pings go out in batches, as a pipelining client would write them: one write per
        // batch, so the figure is the agent's rate rather than the cost of a syscall per ping.
        let frame = FrameHeader(kind: .request, service: ServiceID.control, op: Control.Op.ping.rawValue, id: 0)
        let sender = Thread {
            var batch: [UInt8] = []
            var id = 1
            while id <= count {
                batch.removeAll(keepingCapacity: true)
                while id <= count && batch.count < 16 << 10 {
                    var header = frame
                    header.id = UInt32(id)
                    header.length = 4
                    batch += encodedHeader(header) + [0, 0, 0, 0]
                    id += 1
                }
                try? connection.sendRaw(batch)
            }
        }
        sender.start()
        for expected in 1...count {
            let frame = try connection.receive()
            guard frame.header.kind == .response, frame.header.id == UInt32(expected) else {
                throw ValidationError("answer \(expected) had id \(frame.header.id), kind \(frame.header.kindByte)")
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Double(count) / seconds
    }
}

struct FanoutBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "Many connections at once, each doing a number of pings in lock step."
    )

    @OptionGroup var agent: AgentAddress

    @Option(help: "Connections open at the same time.")
    var connections: Int = 200

    @Option(help: "Pings per connection.")
    var pings: Int = 50

    func run() throws {
        let target = try agent.target()
        let start = DispatchTime.now().uptimeNanoseconds
        let open = try (0..<connections).map { _ in try AgentConnection(target) }
        for round in 1...pings {
            for connection in open {
                try connection.send(service: ServiceID.control, op: Control.Op.ping.rawValue, id: UInt32(round),
                                    Control.Ping(data: .empty))
            }
            for connection in open {
                let frame = try connection.receive()
                guard frame.header.kind == .response, frame.header.id == UInt32(round) else {
                    throw ValidationError("round \(round): unexpected answer id \(frame.header.id)")
                }
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("fanout: \(connections) connections x \(pings) pings in \(String(format: "%.2f", seconds)) s "
            + "(\(Int(Double(connections * pings) / seconds)) pings/s)")
    }
}

struct IdleBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "The agent's resident memory with many idle logged-in connections: before, and while they are held."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "Connections to open, log in and hold (the agent needs as many connection and session slots).")
    var connections: Int = 200

    @Option(help: "The agent's pid, whose VmRSS is read from /proc.")
    var pid: Int32

    func run() throws {
        let target = try agent.target()
        let before = try residentKiB()
        var held: [AgentConnection] = []
        for _ in 0..<connections {
            let connection = try AgentConnection(target)
            _ = try connection.authenticate(user: login.user, password: login.password)
            _ = try connection.ping([1])
            held.append(connection)
        }
        Thread.sleep(forTimeInterval: 0.5)  // the agent settles (workers' stacks, buffers)
        let during = try residentKiB()
        print("idle_connections: \(connections) logged in and idle; agent rss \(before) KiB before, \(during) KiB with them, "
            + "\((during - before) / connections) KiB per connection")
        withExtendedLifetime(held) {}
    }

    private func residentKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
            throw ValidationError("no VmRSS for pid \(pid)")
        }
        return kib
    }
}

struct AuthBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Time successful Authenticate + Logout round trips, and failures under the throttle."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "Logins to time.")
    var count: Int = 20

    @Option(help: "Wrong passwords to send from one source address (127.0.0.x) to time the throttle; 0 skips.")
    var failures: Int = 0

    func run() throws {
        let target = try agent.target()
        let connection = try AgentConnection(target)
        let logins = try Timings(count, warmUp: 0) {
            let session = try connection.authenticate(user: login.user, password: login.password)
            try connection.logout(token: session.token.string)
        }
        print("auth_\(login.user): median \(String(format: "%.1f", logins.median)) ms, "
            + "min \(String(format: "%.1f", logins.min)) ms (\(count) logins)")
        guard failures > 0 else { return }
        var times: [String] = []
        var open: AgentConnection?
        for attempt in 0..<failures {
            // A connection is closed after its third failure: open a fresh one before that.
            if attempt % 2 == 0 { open = try AgentConnection(target, localAddress: "127.0.0.\(200 + (failures % 50))") }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try? open!.authenticate(user: login.user, password: login.password + "-wrong")
            times.append(String(format: "%.0f", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
        }
        print("throttle: \(failures) failures answered after \(times.joined(separator: ", ")) ms")
    }
}

struct ExecBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "RunCommand round trips, compared with posix_spawn + wait of the same program here."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "Commands to time.")
    var count: Int = 1000

    @Option(help: "The command (an absolute path, so both sides run the same file).")
    var command: String = "/bin/true"

    func run() throws {
        let connection = try AgentConnection(try agent.target())
        let token = try connection.authenticate(user: login.user, password: login.password).token
        let request = Dbg.ExecRequest(token: token, command: WireBytes(command), cwd: .empty, timeoutSec: 0)
        let remote = try Timings(count, warmUp: 20) {
            let result: Dbg.ExecResult = try connection.call(service: ServiceID.dbg, op: Dbg.Op.runCommand.rawValue, request)
            guard result.exitCode == 0 else { throw ValidationError("\(command) exited \(result.exitCode)") }
        }
        let local = try Timings(count, warmUp: 20) {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(command), nil]
            defer { free(argv[0]) }
            guard posix_spawn(&pid, command, nil, nil, argv, environ) == 0 else { throw ValidationError("posix_spawn failed") }
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        let ratio = remote.median / local.median
        print("exec_rtt: median \(format(remote.median)) ms, p99 \(format(remote.p99)) ms (\(count) x RunCommand \(command))")
        print("exec_local_spawn: median \(format(local.median)) ms, p99 \(format(local.p99)) ms (posix_spawn + waitpid here)")
        print("exec_ratio: \(String(format: "%.2f", ratio)) x local")
    }

    private func format(_ ms: Double) -> String { String(format: "%.3f", ms) }
}

struct DistroBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distro",
        abstract: "Install and Remove of rootfs archives (against tar -x of each here), then Run round trips.",
        discussion: "Needs an agent reached as root over its Unix socket (Install and Remove need uid 0)."
    )

    @OptionGroup var agent: AgentAddress

    @Option(help: "A rootfs archive to install (repeatable); the first plain tar gives the unpacked size.")
    var archive: [String]

    @Option(help: "The unpacked size in bytes (the archive's tar size), for the rates.")
    var unpackedBytes: Double

    @Option(help: "Run round trips to time.")
    var count: Int = 500

    func run() throws {
        let connection = try AgentConnection(try agent.target())
        let megabytes = unpackedBytes / 1e6
        for path in archive {
            let format = URL(fileURLWithPath: path).lastPathComponent.split(separator: ".").dropFirst().joined(separator: ".")
            let start = DispatchTime.now().uptimeNanoseconds
            try connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in try connection.distroInstall(url: path) }
            let installed = seconds(since: start)
            let removeStart = DispatchTime.now().uptimeNanoseconds
            try connection.distroRemove()
            let removed = seconds(since: removeStart)
            let local = try untarHere(path)
            print("distro_install_\(format): \(Int(megabytes / installed)) MB/s (\(String(format: "%.1f", megabytes)) MB unpacked in "
                + "\(String(format: "%.2f", installed)) s; tar -x here: \(Int(megabytes / local)) MB/s), remove \(String(format: "%.2f", removed)) s")
        }
        try connection.distroInstall(url: archive[0])
        defer { try? connection.distroRemove() }
        let request = Distro.RunRequest(command: WireBytes("true"), workdir: .empty, bind: .empty, env: .empty, input: .empty)
        let runs = try Timings(count, warmUp: 20) {
            let result = try connection.distroRun(request)
            guard result.exitCode == 0 else { throw ValidationError("true exited \(result.exitCode)") }
        }
        print("distro_run_rtt: median \(String(format: "%.3f", runs.median)) ms, p99 \(String(format: "%.3f", runs.p99)) ms "
            + "(\(count) x Run true: namespaces, mounts, two forks)")
    }

    private func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// GNU tar -x of the same archive into a scratch directory (it tells compression by content).
    private func untarHere(_ path: String) throws -> Double {
        let target = FileManager.default.temporaryDirectory.appendingPathComponent("untar-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: target) }
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/bin/tar")
        tar.arguments = ["-xf", path, "-C", target.path]
        let start = DispatchTime.now().uptimeNanoseconds
        try tar.run()
        tar.waitUntilExit()
        sync()
        return seconds(since: start)
    }
}

struct SerialBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serial",
        abstract: "Push and pull throughput over a simulated serial line, as a fraction of its rate.",
        discussion: "Starts the agent given (with --serial on the line's far end), clean and with damage."
    )

    @Option(help: "The dbgd binary to start.")
    var agent: String

    @Option(help: "More dbgd flags, separated by spaces (the accounts).")
    var agentFlags: String = ""

    @OptionGroup var login: Credentials

    @Option(help: "Line rates to measure.")
    var baud: [Int] = [115_200, 3_000_000]

    @Option(help: "On the damaged line, one byte in this many is flipped or dropped.")
    var errorEvery: Int = 10_000

    @Option(help: "A file on the board to write and read back.")
    var remoteFile: String

    func run() throws {
        for rate in baud {
            for damage in [0, errorEvery] {
                let line = try LineSimulator(baud: rate, errorEvery: damage)
                let process = try startAgent(agent, flags: agentFlags, serving: line)
                defer {
                    process.terminate()
                    process.waitUntilExit()
                    line.stop()
                }
                let connection = try AgentConnection(.serial(path: line.clientDevice, baud: rate), timeoutSeconds: 60)
                let token = try connection.authenticate(user: login.user, password: login.password).token
                var files = RemoteFiles(connection: connection, token: token)
                files.chunk = 16 << 10
                files.window = 4
                // About 6 s of line time each way.
                let size = rate / 10 * 6
                let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
                var start = DispatchTime.now().uptimeNanoseconds
                try files.write(data, to: remoteFile, mode: 0o600)
                let pushSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                var back: [UInt8] = []
                start = DispatchTime.now().uptimeNanoseconds
                try files.read(remoteFile) { (chunk) throws(ClientError) in back += chunk }
                let pullSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                guard back == data else { throw ValidationError("the file came back different") }
                let lineRate = Double(rate) / 10
                let counters = connection.linkCounters ?? LinkEngine.Counters()
                let label = damage == 0 ? "clean" : "1_per_\(damage)_bytes_damaged"
                print("serial_\(rate)_\(label): push \(percent(Double(size) / pushSeconds / lineRate)) of the line rate, "
                    + "pull \(percent(Double(size) / pullSeconds / lineRate)) (\(size) bytes each way at \(Int(lineRate)) B/s; "
                    + "client side: \(counters.framesDropped) frames dropped, \(counters.retransmissions) retransmitted; "
                    + "bytes damaged on the line: \(line.statistics.damaged))")
            }
        }
    }

    private func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }
}

/// Starts `agent` with --serial on the line's far end (and `flags`), and gives it time to
/// open the line.
func startAgent(_ agent: String, flags: String, serving line: LineSimulator) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: agent)
    process.arguments = ["--serial", "\(line.agentDevice),\(line.baud)"] + flags.split(separator: " ").map(String.init)
    process.standardError = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    usleep(300_000)
    return process
}

struct ShellBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Keystroke echo latency and bulk output throughput of an interactive shell."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "Keystrokes to time.")
    var keystrokes: Int = 1000

    @Option(help: "Megabytes of output for the throughput figure.")
    var megabytes: Int = 200

    func run() throws {
        let connection = try AgentConnection(try agent.target())
        let token = try connection.authenticate(user: login.user, password: login.password).token.string
        let shell = try connection.openShell(token: token)
        // `cat` on a non-canonical terminal echoes each byte back at once, as an editor would.
        try connection.shellInput(token: token, shell: shell, Array("stty -icanon -echo min 1; echo RE''ADY; cat\n".utf8))
        var seen: [UInt8] = []
        while seen.firstRange(of: Array("READY".utf8)) == nil { seen += try waitForOutput(connection) }
        let letters = Array("abcdefghijklmnopqrstuvwxyz".utf8)
        var next = 0
        let echo = try Timings(keystrokes, warmUp: 20) {
            let key = letters[next % letters.count]
            next += 1
            try connection.shellInput(token: token, shell: shell, [key])
            while try !waitForOutput(connection).contains(key) {}
        }
        print("shell_echo: median \(String(format: "%.3f", echo.median)) ms, p99 \(String(format: "%.3f", echo.p99)) ms "
            + "(\(keystrokes) keystrokes)")

        try connection.shellInput(token: token, shell: shell, [0x03])  // end cat
        usleep(200_000)
        try connection.shellInput(token: token, shell: shell,
                                  Array("stty sane -opost; head -c \(megabytes)M /dev/zero; exit\n".utf8))
        var bytes = 0
        var start: UInt64 = 0
        while true {
            let frame = try connection.receive()
            if frame.header.op == Dbg.Event.shellExit.rawValue { break }
            guard frame.header.op == Dbg.Event.shellOutput.rawValue else { continue }
            if start == 0 { start = DispatchTime.now().uptimeNanoseconds }
            bytes += frame.payload.count - 8
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        print("shell_output: \(String(format: "%.0f", Double(bytes) / seconds / 1e6)) MB/s (\(bytes / 1_000_000) MB through the PTY)")
    }

    /// The data of the next ShellOutput event.
    private func waitForOutput(_ connection: AgentConnection) throws -> [UInt8] {
        while true {
            let frame = try connection.receive()
            if frame.header.op == Dbg.Event.shellOutput.rawValue { return try frame.decode(ShellOutputEvent.self).data.bytes }
            if frame.header.op == Dbg.Event.shellExit.rawValue { throw ValidationError("the shell exited") }
        }
    }
}

struct FilesBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "files",
        abstract: "Pull and push throughput of one file, next to raw loopback sendfile in the same run."
    )

    @OptionGroup var agent: AgentAddress
    @OptionGroup var login: Credentials

    @Option(help: "A file the user can read (pulled, then pushed back under another name).")
    var file: String

    @Option(help: "Chunk size in KiB.")
    var chunkKiB: Int = 256

    @Option(help: "Requests in flight.")
    var window: Int = 8

    func run() throws {
        let connection = try AgentConnection(try agent.target())
        let token = WireBytes(try connection.authenticate(user: login.user, password: login.password).token.string)
        var files = RemoteFiles(connection: connection, token: token)
        files.chunk = chunkKiB << 10
        files.window = window
        var pulled = 0
        // Each chunk is looked at in place and dropped: this measures the agent, not a copy here.
        let pullSeconds = try seconds { try files.read(file) { chunk in pulled += chunk.count } }
        let megabytes = Double(pulled) / 1e6
        print("file_pull: \(Int(megabytes / pullSeconds)) MB/s (\(Int(megabytes)) MB, \(chunkKiB) KiB chunks, \(window) in flight)")
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        // Pushing into a new file includes the file system's allocation of it; into an
        // existing one, mostly the transfer. Both, next to the same writes made locally.
        for target in ["a new file", "an existing file"] {
            let pushSeconds = try seconds { try files.write(data, to: file + ".pushed", mode: 0) }
            print("file_push: \(Int(megabytes / pushSeconds)) MB/s into \(target) (\(chunkKiB) KiB chunks, \(window) in flight)")
        }
        try? FileManager.default.removeItem(atPath: file + ".local")
        let localSeconds = try seconds { try writeLocally(data, to: file + ".local", chunk: files.chunk) }
        try? FileManager.default.removeItem(atPath: file + ".local")
        print("local_write: \(Int(megabytes / localSeconds)) MB/s (write(2) of the same bytes into a new file here)")
        print("loopback_sendfile: \(Int(try rawSendfile(file) / 1e6)) MB/s (the same file, sendfile to a loopback socket)")
        // SHA-256 here, as --verify and the agent's Hash compute it.
        let sample = data.prefix(64 << 20)
        var rates: [String] = []
        for hardware in [true, false] where !hardware || SHA256.hardwareAvailable {
            let hashSeconds = try seconds {
                var hasher = SHA256(hardware: hardware)
                sample.withUnsafeBytes { hasher.update($0) }
                _ = hasher.finish()
            }
            rates.append("\(Int(Double(sample.count) / 1e6 / hashSeconds)) MB/s " + (hardware ? "with the CPU's SHA-256 instructions" : "in software"))
        }
        print("sha256_local: " + rates.joined(separator: ", ") + " (\(sample.count >> 20) MiB)")
    }

    private func writeLocally(_ data: [UInt8], to path: String, chunk: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot create \(path)") }
        defer { close(fd) }
        var offset = 0
        try data.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, min(chunk, raw.count - offset))
                guard n > 0 else { throw ValidationError("write failed") }
                offset += n
            }
        }
    }

    private func seconds(_ body: () throws -> Void) throws -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Bytes per second of sendfile from the file to a loopback TCP socket, read and dropped.
    private func rawSendfile(_ path: String) throws -> Double {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        listen(listener, 1)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        let sender = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(sender, $0, length) } }
        let receiver = accept(listener, nil, nil)
        defer { [listener, sender, receiver].forEach { close($0) } }
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while buffer.withUnsafeMutableBytes({ recv(receiver, $0.baseAddress, $0.count, 0) }) > 0 {}
        }
        reader.start()
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        let total = Int(info.st_size)
        var sent = 0
        let elapsed = try seconds {
            while sent < total {
                let n = sendfile(sender, fd, nil, total - sent)
                guard n > 0 else { throw ValidationError("sendfile failed") }
                sent += n
            }
        }
        shutdown(sender, Int32(SHUT_WR))
        return Double(sent) / elapsed
    }
}

/// Makes password hashes with the system's libcrypt, for test shadow files.
struct HashCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hash", abstract: "Print crypt(PASSWORD) for a scheme.")

    @Argument(help: "libxcrypt prefix: '$y$' (yescrypt), '$6$' (sha512), '$5$', '$2b$', '$1$'.")
    var scheme: String

    @Argument(help: "The password.")
    var password: String

    func run() throws {
        var setting = [CChar](repeating: 0, count: 128)
        guard crypt_gensalt_rn(scheme, 0, nil, 0, &setting, Int32(setting.count)) != nil else {
            throw ValidationError("libcrypt does not know the scheme '\(scheme)'")
        }
        var work = [UInt8](repeating: 0, count: Int(CSYS_CRYPT_DATA_SIZE))
        guard let hash = work.withUnsafeMutableBytes({ crypt_rn(password, setting, $0.baseAddress, CSYS_CRYPT_DATA_SIZE) }) else {
            throw ValidationError("crypt failed")
        }
        print(String(cString: hash))
    }
}

extension RemoteFiles {
    /// Writes `data` as the whole file, with the window's requests in flight.
    func write(_ data: [UInt8], to path: String, mode: UInt32) throws {
        var offset = 0
        try write(path, truncate: true, mode: mode) { (buffer) throws(ClientError) -> Int in
            let count = min(buffer.count, data.count - offset)
            data[offset..<(offset + count)].withUnsafeBytes { buffer.copyMemory(from: $0) }
            offset += count
            return count
        }
    }
}

struct Credentials: ParsableArguments {
    @Option(name: .shortAndLong, help: "User to log in as.")
    var user: String

    @Option(name: .shortAndLong, help: "That user's password.")
    var password: String
}

/// Minimum, median and 99th percentile of repeated runs, in milliseconds.
struct Timings {
    let min: Double
    let median: Double
    let p99: Double

    init(_ count: Int, warmUp: Int, _ body: () throws -> Void) throws {
        for _ in 0..<warmUp { try body() }
        var samples: [Double] = []
        samples.reserveCapacity(count)
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        samples.sort()
        min = samples[0]
        median = samples[count / 2]
        p99 = samples[Swift.min(count - 1, count * 99 / 100)]
    }
}

struct AgentAddress: ParsableArguments {
    @Option(name: [.customShort("H"), .long], help: "Agent address (HOST:PORT or unix:/PATH).")
    var host: String = "127.0.0.1:5037"

    func target() throws -> AgentTarget { try AgentTarget.parse(host) }
}

private func encodedHeader(_ header: FrameHeader) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
    bytes.withUnsafeMutableBytes { raw in
        var writer = WireWriter(raw)
        try? header.encode(to: &writer)
    }
    return bytes
}

extension ClientError: CustomStringConvertible {
    public var description: String { message }
}
