import DbgClient
import DbgWire
import Foundation

/// A TCP socket listening on 127.0.0.1 on a port the kernel picks, for the tests' own
/// servers (an HTTP server for the distro tests, the forwarding tests' peers).
func listenOnLoopback(backlog: Int32 = 16) throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound, listen(fd, backlog) == 0 else {
        close(fd)
        throw AgentProcessError("cannot listen on 127.0.0.1")
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

extension AgentConnection {
    /// A Ping answered: the agent has handled every frame sent before it; the frames that
    /// came first (events, credits, errors) go to `other`.
    func barrier(_ other: (ReceivedFrame) -> Void) throws {
        let id = makeID()
        try send(service: ServiceID.control, op: Control.Op.ping.rawValue, id: id, Control.Ping(data: .empty))
        while true {
            let frame = try receive()
            if frame.header.kind == .response && frame.header.id == id { return }
            other(frame)
        }
    }
}
