import CSys

/// A forwarded stream: a socket on the board (connected by StreamConnect, or accepted
/// by a listener) whose bytes go to and from a client in frames, with a window in each
/// direction so that one slow stream holds up only itself.
struct ForwardedStream: ~Copyable {
    enum State: Equatable {
        case free
        /// The non-blocking connect is under way; StreamConnect is answered when it ends.
        case connecting
        /// Connected or accepted: bytes flow once the client has been told.
        case open
    }

    /// StreamSend bytes a client may have in flight per stream: the pending buffer's size.
    static let window = 128 << 10
    /// The windows a client may give for StreamReceived bytes.
    static let clientWindows = 4096...(16 << 20)

    var state = State.free
    /// The StreamID clients use; never reused while the agent runs.
    var id: UInt32 = 0
    /// Bumped on every reuse of the slot, so stale events are recognised.
    var generation: UInt32 = 0
    var socket: OwnedDescriptor?
    var registered: Interest?
    /// The connection, and while connecting the StreamConnect to answer.
    var reply = ReplyAddress.none
    /// The login session that opened it (or whose listener accepted it): the only one
    /// that may use it.
    var ownerSerial: UInt64 = 0
    /// The listener that accepted it (0: opened by StreamConnect).
    var listenerID: UInt32 = 0
    /// The client knows of it (StreamOpened or StreamAccepted went out).
    var announced = false
    /// StreamReceived bytes the client takes in flight, and what it still takes (the
    /// window less what is in flight).
    var clientWindow = 0
    var sendCredit = 0
    /// StreamSend bytes not yet written to the socket, and their credits.
    var window: InputWindow
    /// The socket's peer ended its sending half; `endTold`: StreamEnded went out.
    var readEnded = false
    var endTold = false
    /// StreamClose came: the socket's sending half shuts down once `window` is written.
    var writeEnding = false
    var writeShut = false
    /// What ended it early (a refused connect, a reset): StreamClosed carries it.
    var failure: Errno?
    /// For the log line at its end.
    var bytesToSocket: UInt64 = 0
    var bytesFromSocket: UInt64 = 0
    var address = ""

    init(inputBuffer: UnsafeMutableRawBufferPointer) { window = InputWindow(inputBuffer) }

    var descriptor: FileDescriptor? {
        switch socket {
        case .some(let fd): return fd.descriptor
        case .none: return nil
        }
    }

    /// What ended it, after its address, as a client is told; nil while nothing failed.
    var failureText: String? { failure.map { address + ": " + $0.message } }

    /// Both directions are over and the client knows: the stream can go.
    var isFinished: Bool { failure != nil || (endTold && writeShut) }

    /// Writes what waits; shuts the sending half once asked to and nothing waits.
    mutating func flush() {
        guard let fd = descriptor, failure == nil else { return }
        let before = window.pending.readableCount
        if let error = window.flush(into: fd) { failure = error }
        bytesToSocket += UInt64(before - window.pending.readableCount)
        shutIfDone()
    }

    /// StreamSend's bytes (the caller checked the window's room).
    mutating func send(_ bytes: UnsafeRawBufferPointer) {
        let before = window.pending.readableCount
        if let error = window.take(bytes, into: failure == nil && !writeShut ? descriptor : nil) { failure = error }
        bytesToSocket += UInt64(bytes.count + before - window.pending.readableCount)
    }

    /// Free for the slot's next stream: everything as new but the window's memory, and
    /// the generation moves on (so stale events are recognised).
    mutating func reset() {
        state = .free
        socket = nil
        registered = nil
        reply = .none
        ownerSerial = 0
        listenerID = 0
        announced = false
        clientWindow = 0
        sendCredit = 0
        window.reset()
        readEnded = false
        endTold = false
        writeEnding = false
        writeShut = false
        failure = nil
        bytesToSocket = 0
        bytesFromSocket = 0
        address = ""
        generation &+= 1
    }

    mutating func shutIfDone() {
        guard writeEnding, !writeShut, window.pending.isEmpty, let fd = descriptor else { return }
        writeShut = true
        _ = shutdown(fd.rawValue, Int32(CSYS_SHUT_WR))
    }
}
