/// Bytes a client sends ahead into a descriptor that may not take them yet (a streaming
/// process's stdin, a forwarded socket): written at once as far as the descriptor takes
/// them, the rest kept here. The client may have at most one window in flight (sent and
/// not yet credited back), so the rest always fits, and a descriptor that does not read
/// holds up only its own input.
struct InputWindow {
    /// Received and not written yet.
    var pending: ByteBuffer
    /// Received and not credited back yet (pending, or written since the last credit):
    /// at most the window.
    private(set) var inFlight = 0
    /// Written (or dropped) since the last credit.
    private(set) var creditDue = 0

    init(_ memory: UnsafeMutableRawBufferPointer) { pending = ByteBuffer(memory) }

    /// The window: what the client may have in flight.
    var size: Int { pending.capacity }
    /// What the client may still send.
    var room: Int { size - inFlight }

    /// Takes `bytes` (the caller checked `room`): written to `fd` now as far as it takes
    /// them, the rest kept. Without a descriptor (its reader is gone) they are dropped
    /// and credited, as a pipe without a reader would, so that the client goes on.
    /// Returns the write's error other than EAGAIN (nothing is kept then).
    mutating func take(_ bytes: UnsafeRawBufferPointer, into fd: FileDescriptor?) -> Errno? {
        inFlight += bytes.count
        guard let fd else {
            creditDue += bytes.count
            return nil
        }
        var written = 0
        if pending.isEmpty {
            do throws(Errno) {
                written = try fd.write(bytes)
            } catch {
                if error != .wouldBlock {
                    creditDue += bytes.count
                    return error
                }
            }
        }
        creditDue += written
        let rest = UnsafeRawBufferPointer(rebasing: bytes[written...])
        guard !rest.isEmpty else { return nil }
        _ = pending.reserveWritable(rest.count)
        pending.writable.copyMemory(from: rest)
        pending.didWrite(rest.count)
        return nil
    }

    /// Writes what waits as far as `fd` takes it. Returns the write's error other than
    /// EAGAIN; what waited is then dropped and credited.
    mutating func flush(into fd: FileDescriptor) -> Errno? {
        while !pending.isEmpty {
            do throws(Errno) {
                let written = try fd.write(pending.readable)
                pending.didRead(written)
                creditDue += written
            } catch {
                if error == .wouldBlock { return nil }
                drop()
                return error
            }
        }
        return nil
    }

    /// What waits will never be written: credited as taken, so the client is not left
    /// waiting.
    mutating func drop() {
        creditDue += pending.readableCount
        pending.clear()
    }

    /// The credit to send now: some input was written and either nothing waits any more
    /// or a quarter of the window is due (credits come in batches, not per write).
    mutating func takeCredit() -> Int? {
        guard creditDue > 0, pending.isEmpty || creditDue >= size / 4 else { return nil }
        let credit = creditDue
        creditDue = 0
        inFlight -= credit
        return credit
    }

    /// Counts what was written as no longer in flight, for a front end that gives no
    /// credits (a WebSocket takes input as the window allows).
    mutating func settle() {
        inFlight -= creditDue
        creditDue = 0
    }

    /// Empty again, for the slot's next user.
    mutating func reset() {
        pending.clear()
        inFlight = 0
        creditDue = 0
    }
}
