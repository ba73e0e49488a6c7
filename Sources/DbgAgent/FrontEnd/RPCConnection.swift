/// One connection to the runtime socket: its descriptor, the bytes received and not yet
/// answered (in its slot's buffer, which holds one whole line), the answer being written,
/// and the message it waits for.
struct RPCConnection: ~Copyable {
    let buffer: UnsafeMutableRawBufferPointer
    var fd: OwnedDescriptor?
    var generation: UInt32 = 0
    var caller: AppCaller?
    var received = 0
    /// Bytes of `received` already looked at for a newline.
    private var scanned = 0
    var outbox: [UInt8] = []
    private var sent = 0
    /// The runtime's message slot whose answer is awaited.
    var waitingFor: Int?
    /// The peer has finished sending.
    var ended = false
    /// The rest of a line too long to read is being dropped up to its newline.
    var skipping = false
    var registered: Interest?

    init(buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    var isWaiting: Bool { waitingFor != nil }
    var hasLine: Bool { received > 0 }

    mutating func open(_ descriptor: FileDescriptor, caller: AppCaller) {
        fd = OwnedDescriptor(descriptor.rawValue)
        self.caller = caller
    }

    mutating func reset() {
        fd = nil
        generation &+= 1
        caller = nil
        received = 0
        scanned = 0
        outbox = []
        sent = 0
        waitingFor = nil
        ended = false
        skipping = false
        registered = nil
    }

    enum Received { case some, ended, failed }

    /// Reads what fits in the buffer.
    mutating func receive() -> Received {
        guard let socket = fd?.descriptor else { return .failed }
        guard received < buffer.count else { return .some }
        do throws(Errno) {
            let got = try socket.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[received...]))
            if got == 0 { return .ended }
            received += got
            return .some
        } catch {
            return error == .wouldBlock || error == .interrupted ? .some : .failed
        }
    }

    enum Line {
        /// The message's bytes (without the newline, and without a CR before it).
        case message(Range<Int>)
        /// No newline within `maxBytes`.
        case tooLong
    }

    /// The next line received (a last line without a newline once the peer has ended);
    /// blank lines are skipped. `consume` takes it out once answered.
    mutating func nextLine(maxBytes: Int) -> Line? {
        while true {
            let newline = buffer[scanned..<received].firstIndex(of: UInt8(ascii: "\n"))
            if skipping {
                guard let newline else {
                    received = 0
                    scanned = 0
                    return nil
                }
                skipping = false
                consume(newline + 1)
                continue
            }
            let end = newline ?? (ended && received > 0 ? received : nil)
            if (end ?? received) > maxBytes {
                // Whatever follows up to the newline belongs to this line: skipped.
                skipping = newline == nil
                consume(newline.map { $0 + 1 } ?? received)
                return .tooLong
            }
            guard let end else {
                scanned = received
                return nil
            }
            var last = end
            if last > 0 && buffer[last - 1] == UInt8(ascii: "\r") { last -= 1 }
            let blank = buffer[0..<last].allSatisfy { $0 == 0x20 || $0 == 0x09 }
            if blank {
                consume(end + 1)
                continue
            }
            scanned = 0
            return .message(0..<last)
        }
    }

    /// Drops the first `count` bytes (a line and its newline).
    mutating func consume(_ count: Int) {
        let taken = min(count, received)
        let rest = received - taken
        if rest > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + taken, byteCount: rest) }
        received = rest
        scanned = 0
    }

    /// Writes what the socket takes; false when the peer is gone.
    mutating func flush() -> Bool {
        guard sent < outbox.count, let socket = fd?.descriptor else { return true }
        let written: Result<Int, Errno> = outbox.withUnsafeBytes { bytes in
            Result { () throws(Errno) -> Int in try socket.write(UnsafeRawBufferPointer(rebasing: bytes[sent...])) }
        }
        switch written {
        case .success(let count): sent += count
        case .failure(let error): if error != .wouldBlock && error != .interrupted { return false }
        }
        if sent == outbox.count {
            outbox = []
            sent = 0
        }
        return true
    }
}
