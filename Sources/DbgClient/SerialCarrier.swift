import DbgPlatform
#if canImport(Glibc)
import Glibc
#endif

/// What carries the serial link's bytes to the board: a local device (`serial:`), or a
/// TCP connection to a serial port server such as ser2net, raw (`socket://`) or speaking
/// telnet with RFC 2217's COM-PORT-OPTION (`rfc2217://`). All are non-blocking.
class SerialCarrier {
    /// For poll.
    let fd: Int32
    /// How messages name it: "/dev/ttyACM0", "socket://lab:4001".
    let name: String

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Line bytes into `buffer`: their count, 0 at the end, -1 with errno (EAGAIN: none yet).
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        Glibc.read(fd, buffer.baseAddress, buffer.count)
    }

    /// Writes line bytes: how many were taken, or -1 with errno (EAGAIN: no room yet).
    func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        Glibc.write(fd, bytes.baseAddress, bytes.count)
    }

    /// Output of the carrier's own waiting for the descriptor (telnet's answers).
    var hasPendingOutput: Bool { false }

    /// Sends what the carrier itself holds; false when the descriptor failed.
    func flush() -> Bool { true }

    func close() { _ = Glibc.close(fd) }

    /// The line behind a serial target and its baud rate; nil for targets that are not
    /// serial lines.
    static func open(_ target: AgentTarget, timeoutSeconds: Int) throws(ClientError) -> (SerialCarrier, Int)? {
        switch target {
        case .serial(let path, let baud):
            return (try device(path, baud: baud), baud)
        case .networkSerial(let host, let port, let baud, let telnet):
            return (try network(host: host, port: port, baud: baud, telnet: telnet, timeoutSeconds: timeoutSeconds), baud)
        case .tcp, .tls, .unix, .mdns:
            return nil
        }
    }

    /// A local serial device, raw 8N1 at `baud`.
    static func device(_ path: String, baud: Int) throws(ClientError) -> SerialCarrier {
        do throws(SystemError) {
            return SerialCarrier(fd: try SerialPort.open(path, baud: baud), name: path)
        } catch {
            throw .connect("cannot open \(path) at \(baud) baud: \(describe(error.code))")
        }
    }

    /// A TCP connection to a serial port server; `telnet` for RFC 2217.
    static func network(host: String, port: UInt16, baud: Int, telnet: Bool, timeoutSeconds: Int) throws(ClientError) -> SerialCarrier {
        let name = (telnet ? "rfc2217://" : "socket://") + AgentTarget.tcp(host: host, port: port).description
        let fd = try connectTCP(host: host, port: port, timeoutSeconds: timeoutSeconds, localAddress: nil, name: name)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return telnet ? TelnetCarrier(fd: fd, name: name, baud: baud) : SerialCarrier(fd: fd, name: name)
    }
}
