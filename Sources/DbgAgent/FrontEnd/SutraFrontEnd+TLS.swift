import CSys
import DbgWire

#if DBG_NO_TLS
/// Built without TLS (DBG_TLS=OFF): there is no relay, and no connection is handed over.
final class TLSRelay {}
#endif

/// TLS on network connections. One port serves both: a TLS record starts with 0x16 (a
/// handshake), a Sutra frame never does. A TLS connection's socket goes to the relay's
/// thread (`TLSRelay`), and the slot serves the relay's bridge instead.
extension SutraFrontEnd {
    static let tlsHandshakeByte: UInt8 = 0x16

    /// A network connection's first byte decides. Returns whether to go on reading it
    /// now (false: it was handed over, refused or closed).
    func decideTLS(_ index: Int) -> Bool {
        var first: UInt8 = 0
        let got = csys_peek_byte(connections[index].fd.rawValue, &first)
        if got < 0 { return true }  // nothing yet, or an error the read reports
        if got == 1, first == SutraFrontEnd.tlsHandshakeByte, let relay = tls {
            handOver(index, to: relay)
            return false
        }
        connections[index].tls = .none
        if got == 1 && config.requireTLS {
            let reason = "this agent takes only TLS connections on TCP (--require-tls): use tls://HOST:PORT or dbg --tls"
            refusalLog.note("refusing cleartext connection from \(connections[index].peer.description) (--require-tls)")
            connections[index].fail(FrameHeader.connectionLevel, .denied, reason)
            beginClosing(index, reason: reason)
            return false
        }
        return true
    }

    private func handOver(_ index: Int, to relay: TLSRelay) {
        #if !DBG_NO_TLS
        guard let bridge = relay.take(connections[index].fd, peer: connections[index].peer.description) else {
            return close(index, reason: "cannot set up TLS: \(Errno.current.message)")
        }
        loop.remove(connections[index].fd)
        connections[index].socket = OwnedDescriptor(bridge.rawValue)  // the network socket is the relay's now
        connections[index].tls = .handshaking
        do throws(Errno) {
            try loop.add(bridge, .readable, token(for: index))
            connections[index].registered = .readable
        } catch {
            close(index, reason: "epoll_ctl failed: \(error.message)")
        }
        #endif
    }

    /// The relay's first message on the bridge: the handshake's outcome (and the client's
    /// key); with kernel TLS, the network socket comes along and the connection serves it
    /// again. Frames follow it. The bridge closing first means the handshake failed (the
    /// relay logged why).
    func receiveTLSPreamble(_ index: Int) {
        #if !DBG_NO_TLS
        let space = connections[index].receive.writable
        var passed: Int32 = -1
        let got = csys_receive_with_descriptor(connections[index].fd.rawValue, space.baseAddress, space.count, &passed)
        let socket = passed >= 0 ? FileDescriptor(passed) : nil
        guard got > 0 else {
            socket?.close()
            if got < 0 && Errno.current == .wouldBlock { return }
            return close(index, reason: "the TLS handshake did not finish")
        }
        connections[index].receive.didWrite(got)
        let preamble = connections[index].receive.readable
        let kernel = preamble[0] == TLSSession.kernelPreambleTag
        let keyLength = preamble.count >= TLSSession.preambleSize ? Int(preamble[1]) : -1
        guard kernel == (socket != nil), kernel || preamble[0] == TLSSession.preambleTag,
              keyLength == 0 || keyLength == TLSSession.preambleSize - 2 else {
            socket?.close()
            return close(index, reason: "the TLS relay's preamble is malformed")
        }
        connections[index].clientKey = keyLength == 0 ? nil : Array(preamble[2..<(2 + keyLength)])
        connections[index].receive.didRead(TLSSession.preambleSize)
        connections[index].tls = .established
        if let socket {
            // Kernel TLS: the bridge goes, the network socket serves the connection again.
            loop.remove(connections[index].fd)
            connections[index].socket = OwnedDescriptor(socket.rawValue)
            connections[index].tls = .kernel
            do throws(Errno) {
                try loop.add(socket, .readable, token(for: index))
                connections[index].registered = .readable
            } catch {
                return close(index, reason: "epoll_ctl failed: \(error.message)")
            }
        }
        Log.debug("connection from \(connections[index].peer.description): TLS" + (socket != nil ? " (kernel)" : "")
            + (connections[index].clientKey.map { ", client key " + KeyCertificate.fingerprint(point: $0) } ?? ""))
        #endif
    }

    /// At start-up: the network listeners that take cleartext, in one warning line.
    func warnAboutCleartext() {
        guard !config.requireTLS else { return }
        let exposed = listeners.filter { $0.unixPath == nil && !$0.address.isLoopback }.map { $0.address.description }
        guard !exposed.isEmpty else { return }
        #if DBG_NO_TLS
        let remedy = "this dbgd was built without TLS"
        #else
        let remedy = "--require-tls takes only TLS"
        #endif
        Log.info("warning: " + exposed.joined(separator: ", ") + " takes cleartext connections, whose passwords "
            + "and files anyone on the network can read; " + remedy)
    }
}
