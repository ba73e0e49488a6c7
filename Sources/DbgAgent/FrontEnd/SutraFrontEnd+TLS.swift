import CSys
import DbgPlatform
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
        guard let bridge = relay.take(connections[index].fd, peer: connections[index].peer.description, owner: tlsOwner(index)) else {
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

    /// The relay's one message on the bridge: the handshake's outcome, the client's key
    /// and the network socket, with the session's records the kernel's (kTLS) or the
    /// connection's own, with the engine the relay lent it. The bridge closing first
    /// means the handshake failed (the relay logged why).
    func receiveTLSPreamble(_ index: Int) {
        #if !DBG_NO_TLS
        var preamble = [UInt8](repeating: 0, count: TLSSession.preambleSize)
        var passed: Int32 = -1
        let got = preamble.withUnsafeMutableBytes {
            csys_receive_with_descriptor(connections[index].fd.rawValue, $0.baseAddress, $0.count, &passed)
        }
        let socket = passed >= 0 ? FileDescriptor(passed) : nil
        guard got > 0 else {
            socket?.close()
            if got < 0 && Errno.current == .wouldBlock { return }
            return close(index, reason: "the TLS handshake did not finish")
        }
        let kernel = preamble[0] == TLSSession.kernelTag
        let keyLength = Int(preamble[1])
        let slot = Int(preamble[TLSSession.preambleSize - 2]) | Int(preamble[TLSSession.preambleSize - 1]) << 8
        let lent = kernel ? nil : tls?.lentPump(slot: slot, owner: tlsOwner(index))
        guard let socket, got == TLSSession.preambleSize, kernel || lent != nil,
              keyLength == 0 || keyLength == TLSSession.preambleSize - 4 else {
            socket?.close()
            return close(index, reason: "the TLS relay's preamble is malformed")
        }
        connections[index].clientKey = keyLength == 0 ? nil : Array(preamble[2..<(2 + keyLength)])
        // The bridge goes; the network socket serves the connection again.
        loop.remove(connections[index].fd)
        connections[index].socket = OwnedDescriptor(socket.rawValue)
        if let lent {
            connections[index].records = lent
            connections[index].tls = .records
        } else {
            connections[index].tls = .kernel
        }
        do throws(Errno) {
            try loop.add(socket, .readable, token(for: index))
            connections[index].registered = .readable
        } catch {
            return close(index, reason: "epoll_ctl failed: \(error.message)")
        }
        Log.debug("connection from \(connections[index].peer.description): TLS" + (kernel ? " (kernel)" : "")
            + (connections[index].clientKey.map { ", client key " + KeyCertificate.fingerprint(point: $0) } ?? ""))
        // The engine may hold what the client sent right after its handshake.
        pump(index)
        #endif
    }

    /// What the relay knows a connection by.
    private func tlsOwner(_ index: Int) -> UInt64 { UInt64(index) << 32 | UInt64(connections[index].generation) }

    /// A connection handed to the relay closes: the relay takes back what it lent (or the
    /// preamble it may not have read yet). With kernel TLS it already has.
    func tlsClosed(_ index: Int) {
        #if !DBG_NO_TLS
        switch connections[index].tls {
        case .handshaking, .records: tls?.closed(owner: tlsOwner(index))
        case .none, .undecided, .kernel: break
        }
        #endif
    }

    /// Records read ahead (or decrypted and not taken yet, or the session's end) wait
    /// where epoll cannot see them: taken while the connection would read its socket.
    /// False when nothing moved.
    func receiveHeldTLSInput(_ index: Int) -> Bool {
        #if !DBG_NO_TLS
        guard let records = connections[index].records, records.holdsInput, connections[index].state == .open,
              connections[index].wantedInterest.contains(.readable) else { return false }
        switch connections[index].receiveRecords(records, socketReads: 0) {
        case .received:
            return true
        case .wouldBlock:
            return false
        case .endOfStream:
            connections[index].inputClosed = true
            return true
        case .failed(let error):
            close(index, reason: "read failed: \(error.message)")
            return false
        }
        #else
        return false
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
