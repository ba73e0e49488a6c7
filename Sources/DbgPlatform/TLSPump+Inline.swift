import CSys
import CTLS

/// The engine without a bridge: the caller hands over the bytes to encrypt and takes the
/// decrypted ones itself, so they cross no socketpair and no thread (the client's
/// AgentConnection, and an agent connection once the relay lent it its session). Engine calls and system calls are apart: a caller that receives on
/// one thread and sends on another holds its engine lock for the former only, never
/// while a socket blocks. The read-ahead belongs to the receiving side, the gathered
/// records to the sending side.
extension TLSPump {
    public enum Decrypted {
        /// This many bytes were put in the caller's buffer.
        case bytes(Int)
        /// The engine waits for records: `readAhead` first.
        case needsNetwork
        /// The engine holds records to send before it reads on (an alert).
        case needsSending
        /// The session is over: the peer's close_notify, or the failure's text.
        case closed(failure: String?)
    }

    /// Engine: decrypted bytes into `buffer`, from the records read ahead.
    public func decrypted(into buffer: UnsafeMutableRawBufferPointer) -> Decrypted {
        while true {
            if has(CTLS_CLOSED) {
                let error = ctls_error(engine)
                return .closed(failure: error == 0 ? nil : String(cString: ctls_error_message(error)))
            }
            if has(CTLS_RECVAPP) {
                var length = 0
                let bytes = ctls_recvapp(engine, &length)!
                let count = min(length, buffer.count)
                buffer.baseAddress!.copyMemory(from: bytes, byteCount: count)
                ctls_recvapp_ack(engine, count)
                return .bytes(count)
            }
            guard has(CTLS_RECVREC) else { return .needsSending }
            guard feedStaged() else { return .needsNetwork }
        }
    }

    /// Not the engine: reads what the network has (blocking or not, as the socket is)
    /// into the read-ahead, once the engine has taken all of it.
    public func readAhead(network: Int32) -> Transfer {
        guard stagedStart == stagedEnd else { return .moved(0) }
        let result = Transfer(read(network, staged.baseAddress, staged.count))
        if case .moved(let count) = result { (stagedStart, stagedEnd) = (0, count) }
        return result
    }

    /// Engine: takes application bytes while the records being made and the gathering
    /// have room (finished records move behind the gathered ones); how many, nil once
    /// the session is closed.
    public func encrypt(_ bytes: UnsafeRawBufferPointer) -> Int? {
        if has(CTLS_CLOSED) { return nil }
        var taken = 0
        while taken < bytes.count && makeRoom() {
            var length = 0
            let room = ctls_sendapp(engine, &length)!
            let count = min(length, bytes.count - taken)
            UnsafeMutableRawPointer(room).copyMemory(from: bytes.baseAddress! + taken, byteCount: count)
            ctls_sendapp_ack(engine, count)
            taken += count
        }
        return taken
    }

    /// Engine: reads application bytes from `fd` (a pipe file data was spliced into)
    /// straight into the record being made, at most `count`; `.wouldBlock` when the
    /// gathering has no room, `.failed` once the session is closed.
    public func encrypt(reading fd: Int32, upTo count: Int) -> Transfer {
        if has(CTLS_CLOSED) { return .failed }
        guard makeRoom() else { return .wouldBlock }
        var length = 0
        let room = ctls_sendapp(engine, &length)!
        let result = Transfer(read(fd, room, min(length, count)))
        if case .moved(let moved) = result { ctls_sendapp_ack(engine, moved) }
        return result
    }

    /// The engine takes application bytes once its finished records are gathered.
    private func makeRoom() -> Bool { has(CTLS_SENDAPP) || (gatherRecords() && has(CTLS_SENDAPP)) }

    /// Received bytes wait in the read-ahead or the engine, or the session closed (the
    /// peer's close_notify was answered): epoll will not say so.
    public var holdsInput: Bool { stagedStart < stagedEnd || has(CTLS_RECVAPP) || has(CTLS_CLOSED) }

    /// Engine: what was taken goes out as a record now (not when the record is full).
    public func seal() { ctls_flush(engine) }

    /// Engine: starts the closing exchange (close_notify), once.
    public func close() {
        guard !closeSent else { return }
        closeSent = true
        ctls_close(engine)
    }

    /// Engine: moves finished records behind the gathered ones, as far as there is room;
    /// true when the engine holds none any more.
    public func gatherRecords() -> Bool {
        while has(CTLS_SENDREC) {
            var length = 0
            let records = ctls_sendrec(engine, &length)!
            guard toNetwork.append(records, length) else { return false }
            ctls_sendrec_ack(engine, length)
        }
        return true
    }

    public var hasGatheredRecords: Bool { !toNetwork.isEmpty }

    /// Not the engine: writes gathered records, as far as the network takes them.
    public func writeGathered(network: Int32) -> Transfer { toNetwork.flush(to: network) }
}
