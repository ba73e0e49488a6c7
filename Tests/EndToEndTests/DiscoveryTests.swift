import DbgClient
import Foundation
import Testing

/// Two network namespaces joined by a veth pair: the board's side (10.X.0.1) and the
/// host's (10.X.0.2). Multicast stays between them; both go away with the value.
final class LinkPair {
    let board: String
    let host: String
    let boardAddress: String
    let hostAddress: String
    private static let counter = Counter()

    init() throws {
        let number = LinkPair.counter.next()
        let tag = "\(getpid() % 10000)-\(number)"
        board = "dbgt-b-\(tag)"
        host = "dbgt-h-\(tag)"
        let subnet = "10.\(200 + number % 50).\(getpid() % 250)"
        boardAddress = subnet + ".1"
        hostAddress = subnet + ".2"
        let script = """
            set -e
            ip netns add \(board); ip netns add \(host)
            ip link add vb\(tag) type veth peer name vh\(tag)
            ip link set vb\(tag) netns \(board); ip link set vh\(tag) netns \(host)
            ip -n \(board) addr add \(boardAddress)/24 dev vb\(tag); ip -n \(host) addr add \(hostAddress)/24 dev vh\(tag)
            for ns in \(board) \(host); do ip -n $ns link set lo up; done
            ip -n \(board) link set vb\(tag) up; ip -n \(host) link set vh\(tag) up
            """
        let setup = try ChildProcess(["sh", "-c", script])
        let output = String(decoding: setup.output.readDataToEndOfFile(), as: UTF8.self)
        guard setup.waitForExit(timeout: 30) == 0 else { throw AgentProcessError("netns setup failed: \(output)") }
    }

    deinit {
        if let cleanup = try? ChildProcess(["sh", "-c", "ip netns del \(board); ip netns del \(host)"]) {
            _ = cleanup.waitForExit(timeout: 30)
        }
    }

    func inHost(_ command: [String]) -> [String] { ["ip", "netns", "exec", host] + command }
    func inBoard(_ command: [String]) -> [String] { ["ip", "netns", "exec", board] + command }

    final class Counter: @unchecked Sendable {
        private var value = 0
        private let lock = NSLock()
        func next() -> Int { lock.withLock { value += 1; return value } }
    }
}

/// The PyPI zeroconf package (Scripts/setup puts it in /opt/dbg-tools), an independent
/// implementation of multicast DNS.
enum Zeroconf {
    static let python = "/opt/dbg-tools/bin/python"
    static var available: Bool {
        guard let check = try? ChildProcess([python, "-c", "import zeroconf"]) else { return false }
        return check.waitForExit(timeout: 30) == 0
    }

    /// Browses `_dbg._tcp.local.` from the host's namespace and resolves what it finds: one
    /// line per board, "NAME|SERVER|PORT|ADDRESSES|PROPERTIES".
    static let browser = """
        import sys, time
        from zeroconf import Zeroconf, ServiceBrowser, ServiceListener
        class Seen(ServiceListener):
            def __init__(self): self.names = set()
            def add_service(self, zc, kind, name): self.names.add(name)
            def update_service(self, zc, kind, name): self.names.add(name)
            def remove_service(self, zc, kind, name): self.names.discard(name)
        zc = Zeroconf(interfaces=[sys.argv[1]])
        seen = Seen()
        browser = ServiceBrowser(zc, "_dbg._tcp.local.", seen)
        want = int(sys.argv[2])
        deadline = time.time() + 15
        while time.time() < deadline and len(seen.names) < want: time.sleep(0.05)
        for name in sorted(seen.names):
            info = zc.get_service_info("_dbg._tcp.local.", name, timeout=5000)
            if info is None: continue
            props = ",".join(f"{k.decode()}={v.decode()}" for k, v in sorted(info.properties.items()))
            print(f"{name}|{info.server}|{info.port}|{','.join(info.parsed_addresses())}|{props}", flush=True)
        zc.close()
        """

    /// Registers NAME._dbg._tcp.local. for a while (a board of another maker).
    static let registrar = """
        import socket, sys, time
        from zeroconf import Zeroconf, ServiceInfo
        zc = Zeroconf(interfaces=[sys.argv[1]])
        info = ServiceInfo("_dbg._tcp.local.", sys.argv[2] + "._dbg._tcp.local.", addresses=[socket.inet_aton(sys.argv[1])],
                           port=6000, properties={"arch": "other"}, server="elsewhere.local.")
        zc.register_service(info)
        print("registered", flush=True)
        sys.stdin.read()
        zc.unregister_service(info)
        zc.close()
        """
}

@Suite("Discovery: multicast DNS between two network namespaces", .serialized, .needs("mdns"),
       .enabled(if: getuid() == 0, "network namespaces need root"), .enabled(if: Zeroconf.available, "Scripts/setup installs zeroconf"))
struct DiscoveryTests {
    @Test("zeroconf browses and resolves the agent (SRV, TXT, A); dbg devices lists it; -H mdns:NAME and mdns:SERIAL reach it")
    func browseAndResolve() throws {
        let link = try LinkPair()
        let fixture = try CommandFixture()
        let agent = try AgentProcess(["--listen", "0.0.0.0:5037", "--mdns", "--mdns-name", "bench-3"] + fixture.accounts.shadowFlags,
                                     prefix: link.inBoard([]))
        #expect(agent.waitForLine(timeout: 10) { $0.contains("mdns: announced as bench-3._dbg._tcp.local") } != nil)

        let browser = try ChildProcess(link.inHost([Zeroconf.python, "-c", Zeroconf.browser, link.hostAddress, "1"]))
        let seen = String(decoding: browser.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(browser.waitForExit(timeout: 30) == 0)
        let fields = seen.split(separator: "\n").first?.split(separator: "|").map(String.init) ?? []
        #expect(fields.count == 5, "\(seen)")
        if fields.count == 5 {
            #expect(fields[0] == "bench-3._dbg._tcp.local." && fields[2] == "5037")
            #expect(fields[3].split(separator: ",").contains(Substring(link.boardAddress)))
            #expect(fields[4].contains("arch=") && fields[4].contains("version=0.1.0") && fields[4].contains("serial="))
        }

        let environment = ["DBG_USER": "runner", "DBG_PASSWORD": "run"]
        let devices = try ChildProcess(link.inHost([DbgTool.binary, "devices", "--json", "--timeout", "2"]), environment: environment)
        let json = devices.output.readDataToEndOfFile()
        #expect(devices.waitForExit(timeout: 30) == 0)
        let boards = try JSONSerialization.jsonObject(with: json) as? [[String: Any]] ?? []
        #expect(boards.count == 1 && boards.first?["name"] as? String == "bench-3" && boards.first?["port"] as? Int == 5037)
        #expect((boards.first?["addresses"] as? [String])?.first == link.boardAddress)
        let serial = boards.first?["serial"] as? String ?? ""
        #expect(!serial.isEmpty)

        for name in ["bench-3", "BENCH-3", serial] {
            let exec = try ChildProcess(link.inHost([DbgTool.binary, "-H", "mdns:" + name, "exec", "--", "echo", "found"]),
                                        environment: environment)
            #expect(String(decoding: exec.output.readDataToEndOfFile(), as: UTF8.self) == "found\n", "\(name)")
            #expect(exec.waitForExit(timeout: 30) == 0)
        }
        let missing = try ChildProcess(link.inHost(["sh", "-c", "'\(DbgTool.binary)' -H mdns:nosuch ping 2>&1"]), environment: environment)
        let said = String(decoding: missing.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(missing.waitForExit(timeout: 30) == 255)
        #expect(said.contains("no board named 'nosuch' answered multicast DNS within 5 s (heard: bench-3)"), "\(said)")
    }

    @Test("a name already taken on the network: the agent probes, finds it, and announces 'NAME (2)'")
    func conflict() throws {
        let link = try LinkPair()
        let fixture = try CommandFixture()
        let other = try ChildProcess(link.inHost([Zeroconf.python, "-c", Zeroconf.registrar, link.hostAddress, "bench-3"]),
                                     withInput: true)
        defer { other.signal(SIGTERM) }
        #expect(String(decoding: other.output.readData(ofLength: 11), as: UTF8.self) == "registered\n")
        let agent = try AgentProcess(["--listen", "0.0.0.0:5037", "--mdns", "--mdns-name", "bench-3"] + fixture.accounts.shadowFlags,
                                     prefix: link.inBoard([]))
        #expect(agent.waitForLine(timeout: 15) { $0.contains("mdns: announced as bench-3 (2)._dbg._tcp.local") } != nil)
        let devices = try ChildProcess(link.inHost([DbgTool.binary, "devices", "--timeout", "2"]))
        let listed = String(decoding: devices.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(devices.waitForExit(timeout: 30) == 0)
        #expect(listed.contains("bench-3 (2)") && listed.contains("\(link.boardAddress):5037"), "\(listed)")
    }

    @Test("garbage, cut and looping packets to port 5353 leave the agent answering; nothing off the link is answered")
    func badPackets() throws {
        let link = try LinkPair()
        let fixture = try CommandFixture()
        let agent = try AgentProcess(["--listen", "0.0.0.0:5037", "--mdns", "--mdns-name", "sturdy"] + fixture.accounts.shadowFlags,
                                     prefix: link.inBoard([]))
        #expect(agent.waitForLine(timeout: 10) { $0.contains("mdns: announced as sturdy") } != nil)
        let flood = """
            import os, socket, struct
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            target = ("\(link.boardAddress)", 5353)
            header = lambda qd, an: struct.pack(">6H", 0, 0, qd, an, 0, 0)
            packets = [b"", b"\\x00", header(1, 0), header(1, 0) + b"\\xc0\\x0c\\x00\\x01\\x00\\x01",
                       header(1, 0) + b"\\x3f" + b"a" * 10, header(65535, 65535) + b"\\x00" * 100,
                       header(0, 1) + b"\\x00\\x00\\x10\\x00\\x01\\x00\\x00\\x00\\x10\\xff\\xff",
                       header(1, 0) + (b"\\x01a" * 200) + b"\\x00\\x00\\x0c\\x00\\x01"]
            for i in range(3000):
                packets.append(os.urandom(i % 600))
            for p in packets: s.sendto(p, target)
            print("sent", len(packets))
            """
        let sender = try ChildProcess(link.inHost(["python3", "-c", flood]))
        #expect(String(decoding: sender.output.readDataToEndOfFile(), as: UTF8.self).hasPrefix("sent"))
        #expect(sender.waitForExit(timeout: 30) == 0)
        let devices = try ChildProcess(link.inHost([DbgTool.binary, "devices", "--timeout", "2"]))
        let listed = String(decoding: devices.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(devices.waitForExit(timeout: 30) == 0 && listed.contains("sturdy"), "\(listed)")

        // A query from an address outside the board's subnets (routable, but not on the
        // link) gets no answer: the agent is not a reflector for spoofed sources.
        let setup = try ChildProcess(["sh", "-c", "ip -n \(link.host) addr add 172.31.77.2/24 dev $(ip -n \(link.host) -o link | "
            + "awk -F': ' '/vh/ {print $2}' | cut -d@ -f1) && ip -n \(link.board) route add 172.31.77.0/24 dev $(ip -n \(link.board) -o link | "
            + "awk -F': ' '/vb/ {print $2}' | cut -d@ -f1)"])
        #expect(setup.waitForExit(timeout: 30) == 0)
        let ask = """
            import socket, struct, sys
            query = struct.pack(">6H", 7, 0, 1, 0, 0, 0) + b"\\x04_dbg\\x04_tcp\\x05local\\x00" + struct.pack(">HH", 12, 1)
            for source in ["172.31.77.2", "\(link.hostAddress)"]:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind((source, 0))
                s.settimeout(1.5)
                s.sendto(query, ("\(link.boardAddress)", 5353))
                try:
                    s.recvfrom(9000)
                    print(source, "answered")
                except socket.timeout:
                    print(source, "silent")
            """
        let asker = try ChildProcess(link.inHost(["python3", "-c", ask]))
        let answers = String(decoding: asker.output.readDataToEndOfFile(), as: UTF8.self)
        #expect(asker.waitForExit(timeout: 30) == 0)
        #expect(answers == "172.31.77.2 silent\n\(link.hostAddress) answered\n", "\(answers)")
        #expect(agent.waitForExit(timeout: 0.1) == nil, "the agent still runs")
    }
}
