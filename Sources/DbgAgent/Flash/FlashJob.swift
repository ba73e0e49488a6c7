import DbgWire

/// One step of a flash, run by the flash thread in the order submitted.
struct FlashJob {
    enum Work {
        /// Check and open the device.
        case open
        /// Discard and zero one batch of the image's extent from this offset.
        case zeroOut(from: UInt64)
        /// A raw chunk, in a buffer of the flash's pool.
        case write(UnsafeRawBufferPointer, at: UInt64)
        /// The next piece of a compressed stream, in a buffer of the pool.
        case feed(UnsafeRawBufferPointer)
        case verify(offset: UInt64, length: UInt64, fromDevice: Bool)
        case endStream
        /// Write back one batch of what went through the page cache.
        case flushBatch
        case flush
        case readBack
        case close
    }

    enum Outcome {
        /// Zeroed up to here.
        case zeroed(UInt64)
        /// Image bytes taken so far (read on the flash thread: the loop never touches
        /// the writer while its jobs run).
        case done(taken: UInt64)
        case digest([UInt8])
        /// Written back or read back; true when every range is.
        case batch(Bool)
    }

    /// The request's entry in `Flasher`'s table.
    let pending: Int
    let writer: FlashWriter
    let work: Work
    var outcome: Result<Outcome, ServiceError> = .success(.done(taken: 0))

    mutating func run() {
        let (writer, work) = (self.writer, self.work)
        outcome = Result { () throws(ServiceError) -> Outcome in
            switch work {
            case .open: try writer.open()
            case .zeroOut(let start): return .zeroed(try writer.zeroOut(from: start))
            case .write(let bytes, let offset): try writer.write(bytes, at: offset)
            case .feed(let bytes): try writer.feed(bytes)
            case .verify(let offset, let length, let fromDevice):
                return .digest(try writer.verify(offset: offset, length: length, fromDevice: fromDevice))
            case .endStream: try writer.endStream()
            case .flush: try writer.flush()
            case .flushBatch: return .batch(try writer.flushBatch())
            case .readBack: return .batch(try writer.readBackBatch())
            case .close: writer.close()
            }
            return .done(taken: writer.taken)
        }
    }
}
