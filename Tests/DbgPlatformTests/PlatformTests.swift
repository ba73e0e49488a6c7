import DbgPlatform
import Foundation
import Testing

@Suite("Shared platform code")
struct PlatformTests {
    private func split(_ text: String) -> Result<Endpoint.HostPort, Endpoint.SplitError> {
        do throws(Endpoint.SplitError) {
            return .success(try Endpoint.split(Array(text.utf8)))
        } catch {
            return .failure(error)
        }
    }

    private func hostPort(_ host: String, _ port: UInt16?, bracketed: Bool = false) -> Result<Endpoint.HostPort, Endpoint.SplitError> {
        .success(Endpoint.HostPort(host: Array(host.utf8), port: port, bracketed: bracketed))
    }

    @Test("endpoints: HOST, HOST:PORT, [IPV6], [IPV6]:PORT; the rest refused with a reason each side words")
    func endpoints() {
        #expect(split("board") == hostPort("board", nil))
        #expect(split("10.0.0.2:5037") == hostPort("10.0.0.2", 5037))
        #expect(split(":0") == hostPort("", 0))
        #expect(split("[::1]") == hostPort("::1", nil, bracketed: true))
        #expect(split("[fe80::1%eth0]:65535") == hostPort("fe80::1%eth0", 65535, bracketed: true))
        #expect(split("[]:1") == hostPort("", 1, bracketed: true))
        #expect(split("[::1") == .failure(.unclosedBracket))
        #expect(split("[::1]x") == .failure(.textAfterBracket))
        #expect(split("[::1]:x") == .failure(.badPort(bracketed: true)))
        #expect(split("::1") == .failure(.unbracketedIPv6))
        #expect(split("h:") == .failure(.badPort(bracketed: false)))
        #expect(split("h:65536") == .failure(.badPort(bracketed: false)))
        #expect(split("h:+5") == .failure(.badPort(bracketed: false)))
        #expect(split("h:000005037") == .failure(.badPort(bracketed: false)))
        #expect(Endpoint.defaultPort == 5037)
    }

    @Test("serial rates: the standard ones from 1200 to 4000000 baud, nothing else")
    func serialRates() {
        for baud in [1200, 9600, 115_200, 921_600, 3_000_000, 4_000_000] { #expect(SerialPort.isStandard(baud: baud)) }
        for baud in [0, -1, 1199, 115_201, 5_000_000] { #expect(!SerialPort.isStandard(baud: baud)) }
        #expect(throws: SystemError(EINVAL)) { _ = try SerialPort.open("/dev/null", baud: 1234) }
        #expect(throws: SystemError(ENOENT)) { _ = try SerialPort.open("/nonexistent/tty", baud: 9600) }
        // Not a terminal: tcgetattr refuses it, and the descriptor is not leaked.
        #expect(throws: SystemError(ENOTTY)) { _ = try SerialPort.open("/dev/null", baud: 9600) }
    }

    @Test("a raw 8N1 line on a PTY: no echo, bytes through unchanged, at the rate asked")
    func serialOnPTY() throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        var path = [CChar](repeating: 0, count: 64)
        try #require(openpty(&master, &slave, &path, nil, nil) == 0)
        defer { close(master) }
        close(slave)  // SerialPort opens the terminal by name, as a board's tty is
        let name = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fd = try SerialPort.open(name, baud: 115_200)
        defer { close(fd) }
        var settings = termios()
        try #require(tcgetattr(fd, &settings) == 0)
        #expect(cfgetospeed(&settings) == speed_t(B115200))
        #expect(settings.c_lflag & tcflag_t(ECHO | ICANON) == 0)
        #expect(fcntl(fd, F_GETFL) & O_NONBLOCK != 0 && fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
        let bytes: [UInt8] = [0x0d, 0x0a, 0x03, 0x11, 0xff]
        #expect(write(master, bytes, bytes.count) == bytes.count)
        var got = [UInt8](repeating: 0, count: 16)
        var count = -1
        for _ in 0..<100 {
            count = read(fd, &got, got.count)
            if count > 0 { break }
            usleep(10_000)
        }
        #expect(Array(got.prefix(max(count, 0))) == bytes)
    }

    @Test("TCP: connects to a listener on loopback; a closed port is the connect errno")
    func tcp() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(listener, 4) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let fd = try TCPConnection.connect(host: "127.0.0.1", port: port, timeoutMs: 2000, localAddress: "127.0.0.9")
        defer { close(fd) }
        var peer = sockaddr_in()
        var peerLength = socklen_t(MemoryLayout<sockaddr_in>.size)
        let accepted = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(listener, $0, &peerLength) }
        }
        try #require(accepted >= 0)
        close(accepted)
        #expect(peer.sin_addr.s_addr == inet_addr("127.0.0.9"), "the local address was bound")
        #expect(fcntl(fd, F_GETFL) & O_NONBLOCK != 0)
        close(listener)
        #expect(throws: TCPConnection.Failure.connect(SystemError(ECONNREFUSED))) {
            _ = try TCPConnection.connect(host: "127.0.0.1", port: port, timeoutMs: 2000)
        }
    }
}
