/// The serial link layer: a reliable, ordered byte stream (the Sutra frames of one
/// connection) over a line that may corrupt, drop or cut bytes. Shared by the agent and
/// the client; it does no I/O itself: the owner feeds it line bytes and stream bytes,
/// writes what it produces, and calls it again at `nextDeadline`.
///
/// Packets (before LineCoding): type u8, flags u8 (bit 0: answer requested, a
/// keepalive), seq u16, ack u16, extra u32, then up to 1024 payload bytes; all
/// little-endian.
/// - DATA carries stream bytes; `seq` counts DATA packets. Every DATA and ACK carries
///   `ack` (the next seq expected) and, in `extra`, a bitmap of the 32 packets after it
///   that arrived out of order (selective acknowledgement).
/// - RESET (client, `extra` a random nonce) starts a fresh stream; the agent answers
///   RESET_ACK with the same nonce. CLOSE (either side, with the nonce) ends the stream.
///   NO_LINK (agent) answers DATA that belongs to no stream (the agent restarted).
///
/// Loss is found two ways: a packet acknowledged (or selectively acknowledged) that was
/// sent after an unacknowledged one means that one was lost (a serial line keeps order),
/// and it is sent again at once; and a retransmission timeout, sized from the baud rate,
/// for the last packets of a burst and for lost acknowledgements.
public struct LinkEngine {
    public enum Role: Sendable {
        case agent, client
    }

    public enum Event: Equatable, Sendable {
        /// Client: the agent acknowledged the reset; the stream is open.
        case opened
        /// Agent: a client reset the link; everything of the previous stream is gone.
        case reset
        /// The other side closed the stream (the client left, or the agent ended the
        /// connection).
        case closed
        /// Client: the agent does not know this stream any more (it restarted).
        case peerLost
    }

    public struct Counters: Equatable, Sendable {
        public var packetsSent = 0
        public var packetsReceived = 0
        /// Line frames thrown away: bad CRC, bad COBS, too long, too short.
        public var framesDropped = 0
        public var retransmissions = 0
        /// DATA packets that arrived twice.
        public var duplicates = 0
        public init() {}
    }

    enum PacketType: UInt8 {
        case data = 1, ack = 2, reset = 3, resetAck = 4, close = 5, noLink = 6
    }

    public static let maxPayload = 1024
    public static let window = 16
    static let headerSize = 10
    /// A line frame longer than this (without a delimiter) is noise.
    static let maxLineFrame = 2 * (headerSize + maxPayload + 4) + 16
    public static let streamBuffer = 64 << 10

    private struct SendSlot {
        var seq: UInt16
        var payload: [UInt8]
        /// When its last transmission should have left the line, and the order of that
        /// transmission among all packets sent.
        var sentAt: Int64
        /// When it was first handed to the line, in ms.
        var firstSent: Int64 = -1
        var order: UInt64
        var timeout: Int64
        var sacked = false
        var lost = false
        /// Sent again once already as a tail-loss probe since its last transmission.
        var probed = false
    }

    public let role: Role
    public private(set) var counters = Counters()
    public private(set) var isOpen = false
    private(set) var nonce: UInt32 = 0

    /// Microseconds per byte on the line (8N1: ten bits).
    private let byteMicros: Int64
    private let baseTimeout: Int64
    /// How long the newest packet may wait for its acknowledgement, when nothing follows
    /// it, before it is sent again (a lost last packet is then found without waiting for
    /// the full timeout).
    private let probeTimeout: Int64

    private var sendBase: UInt16 = 0
    private var nextSeq: UInt16 = 0
    private var slots: [SendSlot] = []
    private var transmissions: UInt64 = 0
    private let outbound = ByteQueue(capacity: LinkEngine.streamBuffer)

    private var expected: UInt16 = 0
    private var reorder: [[UInt8]?] = Array(repeating: nil, count: LinkEngine.window)
    private let inbound = ByteQueue(capacity: LinkEngine.streamBuffer)
    private var ackDue = false
    /// An ACK asking for an answer is to go out (a keepalive).
    private var keepaliveDue = false
    /// When the last valid packet arrived (ms), for keepalives.
    public private(set) var lastReceived: Int64 = 0
    /// When the last packet arrived that moved the stream on (ms): new data, or an
    /// acknowledgement of ours. A line busy retransmitting still moves on; a peer that
    /// only answers keepalives does not.
    public private(set) var lastProgress: Int64 = 0

    /// Encoded packets for the line: a few at a time, so that an acknowledgement never
    /// waits behind much of our own data.
    private let lineOut = ByteQueue(capacity: 8 << 10)
    /// When the bytes handed to the line so far should have been sent.
    private var lineClock: Int64 = 0
    private var frame: [UInt8] = []
    private var frameTooLong = false
    private var control: [(PacketType, UInt32)] = []
    private var nextReset: Int64?

    public init(role: Role, baud: Int) {
        self.role = role
        byteMicros = max(1, 10_000_000 / Int64(max(baud, 300)))
        // Counted from when the packet should have left (the line clock accounts for
        // what was queued before it): room for the driver's buffer and the peer's answer,
        // which may wait behind one packet of its own, to cross.
        let crossing = Int64(2 * (LinkEngine.maxPayload + 32) + 4096)
        baseTimeout = 200 + 2 * crossing * byteMicros / 1000
        probeTimeout = 50 + crossing * byteMicros / 1000
    }

    // MARK: Stream side

    public var inboundCount: Int { inbound.count }
    public var outboundRoom: Int { isOpen ? outbound.room : 0 }
    /// Nothing of the stream waits to be sent or acknowledged.
    public var isIdle: Bool { outbound.count == 0 && slots.isEmpty && lineOut.count == 0 }

    /// Stream bytes that arrived, in order.
    public mutating func readInbound(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = inbound.read(into: buffer)
        if count > 0 { deliverReordered() }
        return count
    }

    /// Takes stream bytes to send, as many as there is room for.
    public mutating func writeOutbound(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard isOpen else { return 0 }
        return outbound.append(bytes)
    }

    /// Client: asks the agent for an answer, so that a silent line can be told from a
    /// board that is gone (no answer to these for long).
    public mutating func requestAnswer() {
        if isOpen { keepaliveDue = true }
    }

    // MARK: Opening and closing

    /// Client: starts a fresh stream (RESET, repeated until answered).
    public mutating func open(nonce: UInt32, now: Int64) {
        resetStream()
        isOpen = false
        self.nonce = nonce
        nextReset = now
    }

    /// Ends the stream (CLOSE, sent twice: nothing answers it). The agent does this
    /// only once everything it sent has been acknowledged.
    public mutating func close() {
        guard isOpen else { return }
        queueControl(.close, nonce)
        queueControl(.close, nonce)
        isOpen = false
    }

    /// At most a few answers wait: a flood of RESETs or stray DATA gets one each.
    private mutating func queueControl(_ type: PacketType, _ extra: UInt32) {
        if control.count < 4 { control.append((type, extra)) }
    }

    private mutating func resetStream() {
        sendBase = 0
        nextSeq = 0
        slots.removeAll()
        outbound.clear()
        expected = 0
        reorder = Array(repeating: nil, count: LinkEngine.window)
        inbound.clear()
        ackDue = false
    }

    // MARK: Line input

    /// Bytes from the line. Returns what happened to the stream.
    public mutating func receive(_ bytes: UnsafeRawBufferPointer, now: Int64) -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            guard byte == 0 else {
                if frame.count < LinkEngine.maxLineFrame { frame.append(byte) } else { frameTooLong = true }
                continue
            }
            defer {
                frame.removeAll(keepingCapacity: true)
                frameTooLong = false
            }
            if frame.isEmpty { continue }
            guard !frameTooLong, let packet = LineCoding.decode(frame[...]), packet.count >= LinkEngine.headerSize,
                  let type = PacketType(rawValue: packet[0]) else {
                counters.framesDropped += 1
                continue
            }
            counters.packetsReceived += 1
            lastReceived = now
            // Flag bit 0: the sender wants an answer (a keepalive); any ACK will do.
            if packet[1] & 1 != 0 && isOpen { ackDue = true }
            if let event = handle(type, packet, now: now) { events.append(event) }
        }
        return events
    }

    private mutating func handle(_ type: PacketType, _ packet: [UInt8], now: Int64) -> Event? {
        let seq = UInt16(packet[2]) | UInt16(packet[3]) << 8
        let ack = UInt16(packet[4]) | UInt16(packet[5]) << 8
        var extra: UInt32 = 0
        for index in 0..<4 { extra |= UInt32(packet[6 + index]) << UInt32(8 * index) }
        switch (type, role) {
        case (.reset, .agent):
            queueControl(.resetAck, extra)
            if isOpen && extra == nonce { return nil }  // a repeat: our answer was lost
            resetStream()
            isOpen = true
            nonce = extra
            return .reset
        case (.resetAck, .client):
            guard !isOpen, nextReset != nil, extra == nonce else { return nil }
            isOpen = true
            nextReset = nil
            return .opened
        case (.close, _):
            guard isOpen, extra == nonce else { return nil }
            resetStream()
            isOpen = false
            return .closed
        case (.noLink, .client):
            guard isOpen else { return nil }
            isOpen = false
            return .peerLost
        case (.data, _), (.ack, _):
            guard isOpen else {
                if role == .agent { queueControl(.noLink, 0) }
                return nil
            }
            if acknowledge(ack, selective: extra, now: now) { lastProgress = now }
            if type == .data && accept(seq, Array(packet[LinkEngine.headerSize...])) { lastProgress = now }
            return nil
        default:
            return nil
        }
    }

    /// The peer expects `ack` next and has the packets of `selective` beyond it. True
    /// when that acknowledges a packet not acknowledged before.
    private mutating func acknowledge(_ ack: UInt16, selective: UInt32, now: Int64) -> Bool {
        guard ack &- sendBase <= nextSeq &- sendBase else { return false }  // stale or nonsense
        var progressed = false
        var newest: UInt64 = 0
        var kept: [SendSlot] = []
        for var slot in slots {
            let acked = slot.seq &- sendBase < ack &- sendBase
            let offset = slot.seq &- ack &- 1
            if acked || (offset < 32 && selective & (1 << UInt32(offset)) != 0) {
                newest = max(newest, slot.order)
                progressed = progressed || acked || !slot.sacked
                if acked { continue }
                slot.sacked = true
            }
            kept.append(slot)
        }
        slots = kept
        sendBase = ack
        // The line keeps order: whatever went out before a packet that arrived is lost.
        for index in slots.indices where !slots[index].sacked && slots[index].order < newest {
            slots[index].lost = true
        }
        return progressed
    }

    /// True when `payload` is new: delivered, or kept until the packets before it come.
    private mutating func accept(_ seq: UInt16, _ payload: [UInt8]) -> Bool {
        ackDue = true
        let offset = seq &- expected
        guard offset < UInt16(LinkEngine.window) else {
            counters.duplicates += 1
            return false
        }
        let index = Int(seq % UInt16(LinkEngine.window))
        if offset > 0 {
            guard reorder[index] == nil else {
                counters.duplicates += 1
                return false
            }
            reorder[index] = payload
            return true
        }
        // In order: delivered when there is room; otherwise dropped, and sent again later.
        guard inbound.room >= payload.count else { return false }
        _ = payload.withUnsafeBytes { inbound.append($0) }
        expected &+= 1
        reorder[index] = nil
        deliverReordered()
        return true
    }

    private mutating func deliverReordered() {
        while let payload = reorder[Int(expected % UInt16(LinkEngine.window))],
              inbound.room >= payload.count {
            _ = payload.withUnsafeBytes { inbound.append($0) }
            reorder[Int(expected % UInt16(LinkEngine.window))] = nil
            expected &+= 1
        }
    }

    private var selectiveBits: UInt32 {
        var bits: UInt32 = 0
        for offset in 0..<(LinkEngine.window - 1) where reorder[Int((expected &+ 1 &+ UInt16(offset)) % UInt16(LinkEngine.window))] != nil {
            bits |= 1 << UInt32(offset)
        }
        return bits
    }

    // MARK: Line output

    /// Bytes for the line, prepared on demand: control packets, packets found lost or
    /// timed out, new data within the window, an acknowledgement.
    public mutating func lineOutput(now: Int64) -> UnsafeRawBufferPointer {
        if lineOut.count == 0 { prepare(now: now) }
        return lineOut.readable
    }

    /// The owner wrote `count` bytes of `lineOutput` to the line.
    public mutating func lineWritten(_ count: Int, now: Int64) {
        lineOut.consume(count)
        lineClock = max(lineClock, now * 1000) + Int64(count) * byteMicros
    }

    private mutating func prepare(now: Int64) {
        while let (type, extra) = control.first {
            control.removeFirst()
            emit(type, seq: 0, extra: extra, payload: [])
        }
        if let due = nextReset, now >= due {
            emit(.reset, seq: 0, extra: nonce, payload: [])
            nextReset = now + max(250, baseTimeout / 4)
        }
        guard isOpen else { return }
        for index in slots.indices where !slots[index].sacked {
            var slot = slots[index]
            guard slot.lost || now >= slot.sentAt / 1000 + slot.timeout else { continue }
            if !slot.lost { slot.timeout = min(slot.timeout * 2, 5_000) }  // a timeout: back off
            slot.lost = false
            slot.probed = false
            counters.retransmissions += 1
            send(&slot, now: now)
            slots[index] = slot
            if lineOut.count >= LinkEngine.maxPayload { return }
        }
        // Nothing new to send and the newest packet still unanswered: send it again once.
        // If an earlier one was lost, the probe's acknowledgement shows it.
        if outbound.count == 0, let newest = slots.indices.last, !slots[newest].sacked, !slots[newest].probed,
           now >= slots[newest].sentAt / 1000 + probeTimeout {
            var slot = slots[newest]
            slot.probed = true
            counters.retransmissions += 1
            send(&slot, now: now)
            slots[newest] = slot
        }
        while outbound.count > 0, slots.count < LinkEngine.window, lineOut.count < LinkEngine.maxPayload {
            var slot = SendSlot(seq: nextSeq, payload: outbound.take(LinkEngine.maxPayload), sentAt: 0, order: 0,
                                timeout: baseTimeout)
            nextSeq &+= 1
            send(&slot, now: now)
            slots.append(slot)
        }
        if ackDue || keepaliveDue { emit(.ack, seq: 0, extra: selectiveBits, payload: [], flags: keepaliveDue ? 1 : 0) }
        keepaliveDue = false
    }

    private mutating func send(_ slot: inout SendSlot, now: Int64) {
        emit(.data, seq: slot.seq, extra: selectiveBits, payload: slot.payload)
        transmissions += 1
        slot.order = transmissions
        if slot.firstSent < 0 { slot.firstSent = now }
        slot.sentAt = max(lineClock, now * 1000) + Int64(lineOut.count) * byteMicros
    }

    private mutating func emit(_ type: PacketType, seq: UInt16, extra: UInt32, payload: [UInt8], flags: UInt8 = 0) {
        let ack = type == .data || type == .ack ? expected : 0
        if type == .data || type == .ack { ackDue = false }
        var packet: [UInt8] = [type.rawValue, flags, UInt8(truncatingIfNeeded: seq), UInt8(truncatingIfNeeded: seq >> 8),
                               UInt8(truncatingIfNeeded: ack), UInt8(truncatingIfNeeded: ack >> 8)]
        for shift in 0..<4 { packet.append(UInt8(truncatingIfNeeded: extra >> UInt32(8 * shift))) }
        packet.append(contentsOf: payload)
        var encoded: [UInt8] = []
        LineCoding.encode(packet, into: &encoded)
        _ = encoded.withUnsafeBytes { lineOut.append($0) }
        counters.packetsSent += 1
    }

    /// Since when the oldest packet not yet acknowledged has waited (ms), if any: a peer
    /// that stays silent this long is gone.
    public var unacknowledgedSince: Int64? {
        slots.filter { !$0.sacked && $0.firstSent >= 0 }.map { $0.firstSent }.min()
    }

    /// When the engine wants to run again (a retransmission or a repeated reset), in ms.
    public func nextDeadline() -> Int64? {
        var next = nextReset
        for slot in slots where !slot.sacked {
            let due = slot.lost ? 0 : slot.sentAt / 1000 + slot.timeout
            next = min(next ?? due, due)
        }
        if outbound.count == 0, let newest = slots.last, !newest.sacked, !newest.probed {
            let due = newest.sentAt / 1000 + probeTimeout
            next = min(next ?? due, due)
        }
        return next
    }
}

/// A FIFO of bytes in one allocation of fixed capacity, compacted when it would run off
/// its end.
final class ByteQueue {
    private let storage: UnsafeMutableRawBufferPointer
    private var head = 0
    private var tail = 0

    init(capacity: Int) { storage = .allocate(byteCount: capacity, alignment: 8) }

    deinit { storage.deallocate() }

    var count: Int { tail - head }
    var room: Int { storage.count - count }

    /// Valid until the queue changes.
    var readable: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[head..<tail]) }

    /// Appends what fits; returns how much that was.
    @discardableResult
    func append(_ more: UnsafeRawBufferPointer) -> Int {
        let length = min(more.count, room)
        guard length > 0 else { return 0 }
        if tail + length > storage.count {
            storage.baseAddress!.copyMemory(from: storage.baseAddress! + head, byteCount: count)
            tail -= head
            head = 0
        }
        (storage.baseAddress! + tail).copyMemory(from: more.baseAddress!, byteCount: length)
        tail += length
        return length
    }

    func consume(_ length: Int) {
        head += length
        if head == tail { clear() }
    }

    func clear() {
        head = 0
        tail = 0
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let length = min(buffer.count, count)
        guard length > 0 else { return 0 }
        buffer.baseAddress!.copyMemory(from: storage.baseAddress! + head, byteCount: length)
        consume(length)
        return length
    }

    func take(_ limit: Int) -> [UInt8] {
        let taken = Array(UnsafeRawBufferPointer(rebasing: storage[head..<(head + min(limit, count))]))
        consume(taken.count)
        return taken
    }
}
