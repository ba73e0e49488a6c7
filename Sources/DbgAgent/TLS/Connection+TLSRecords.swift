import CSys
import DbgPlatform
import DbgWire

/// A connection that makes and reads BearSSL's records itself (`TLSStage.records`), with
/// the engine the relay lent it after the handshake: the socket is the network's, the
/// services and the outbox are unchanged, and file data spliced into the pipe is read
/// from there into the record being made. Encryption on the loop costs less than the
/// socketpair and the thread it replaces, whose copies and wake-ups it saves.
extension Connection {
    /// How many network reads one receive makes at most (128 KiB of read-ahead each):
    /// the loop moves on to other connections in between, as after a plain socket's read.
    static let recordReadsPerReceive = 4

    /// Decrypts into the free part of the receive buffer: what was read ahead first,
    /// then up to `socketReads` reads of the network.
    mutating func receiveRecords(_ pump: TLSPump, socketReads: Int) -> ReceiveOutcome {
        var total = 0
        var reads = 0
        while true {
            let space = receive.writable
            guard space.count > 0 else { break }
            switch pump.decrypted(into: space) {
            case .bytes(let count):
                receive.didWrite(count)
                total += count
                continue
            case .closed(let failure):
                if total > 0 { return .received(total) }  // the end is reported next time
                return failure == nil ? .endOfStream : .failed(Errno(CSYS_EPROTO))
            case .needsSending:
                break  // flush sends the engine's records; it reads on after them
            case .needsNetwork:
                guard reads < socketReads else { break }
                reads += 1
                switch pump.readAhead(network: fd.rawValue) {
                case .moved: continue
                case .wouldBlock: break
                case .ended: return total > 0 ? .received(total) : .endOfStream
                case .failed: return total > 0 ? .received(total) : .failed(.current)
                }
            }
            break
        }
        return total > 0 ? .received(total) : .wouldBlock
    }

    /// Encrypts queued output (the transmit buffer, and spliced file data from the pipe
    /// in its place) and writes the records until the socket is full. Throws when the
    /// peer is gone or the session closed.
    mutating func flushRecords(_ pump: TLSPump) throws(Errno) {
        while true {
            let allTaken = try encryptQueued(pump)
            _ = pump.gatherRecords()
            guard pump.hasGatheredRecords else { return }
            while pump.hasGatheredRecords {
                switch pump.writeGathered(network: fd.rawValue) {
                case .moved: continue
                case .wouldBlock: return
                case .ended, .failed: throw Errno.current
                }
            }
            if allTaken && !pump.hasPendingNetworkOutput { return }
        }
    }

    /// Hands queued output to the engine while it and the gathering have room; true when
    /// all of it was taken (the last record is then sealed: it goes out now).
    private mutating func encryptQueued(_ pump: TLSPump) throws(Errno) -> Bool {
        while true {
            if spliceRemaining > 0 && spliceAfter == 0 {
                guard let source = splicePipe?.read.descriptor else { preconditionFailure("spliced data without a pipe") }
                switch pump.encrypt(reading: source.rawValue, upTo: spliceRemaining) {
                case .moved(let count): spliceRemaining -= count
                case .wouldBlock: return false
                case .ended, .failed: throw Errno(CSYS_EPIPE)
                }
            } else if !transmit.isEmpty {
                let limit = spliceRemaining > 0 ? spliceAfter : transmit.readableCount
                guard let taken = pump.encrypt(UnsafeRawBufferPointer(rebasing: transmit.readable[0..<limit])) else {
                    throw Errno(CSYS_EPIPE)
                }
                transmit.didRead(taken)
                if spliceRemaining > 0 { spliceAfter -= taken }
                if taken < limit { return false }  // the gathered records go out first
            } else {
                pump.seal()
                return true
            }
        }
    }

    /// TLS records made and not written yet.
    var recordsPending: Bool { records?.hasPendingNetworkOutput ?? false }

    /// close_notify, made and sent as far as the socket takes it; true while some waits.
    mutating func sendRecordsCloseNotify() -> Bool {
        guard let records else { return false }
        records.close()
        try? flushRecords(records)
        return records.hasPendingNetworkOutput
    }
}
