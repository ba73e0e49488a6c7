import DbgWire

/// Where a WebSocket connection is: the call it runs and the frame being read.
struct WebSocketState {
    enum Stage: Equatable {
        /// Upgraded; the CallMessage has not come yet.
        case awaitingCall
        /// The call runs as the streaming process in this slot of the process host.
        case running(stream: Int)
        /// An action, or app-logs, through the application runtime: its message in
        /// flight (nil while the lines of the last answer go out).
        case app(AppCall, message: Int?)
        /// distro-install: the distro thread's job.
        case installing
        /// The ResultMessage and a close frame are queued or sent; the peer's close is awaited.
        case finished
    }

    /// The calls that go through the application runtime.
    enum AppCall: Equatable {
        case action
        /// Following the log; `next` is the `since` of the next round.
        case logs(next: UInt64)
    }

    var stage = Stage.awaitingCall
    /// A channel connection's channels (seed 004, /wsv2/TOKEN); nil for the calls of seed 003.
    var channels: ChannelTable?
    /// Lines to send that did not come from a pipe (the runtime's answers, an install's
    /// news), and how much of the first has gone out; the ResultMessage waits for them.
    var queued: [[UInt8]] = []
    var queuedSent = 0
    /// The result to send once `queued` is out (an action's, an install's).
    var resultAfterQueue: Bool?
    /// The session the connection was opened with (its serial; processes belong to it).
    var sessionSerial: UInt64 = 0
    /// The data frame being read: its payload bytes still to come, mask and how far into
    /// its payload the reading is; whether it ends its message.
    var frameRemaining: UInt64 = 0
    var frameMask: UInt32 = 0
    var frameOffset: UInt64 = 0
    var inFrame = false
    var frameFinal = false
    /// The data message whose frames are coming (text or binary); nil between messages.
    var messageOpcode: WebSocketFrame.Opcode?
    /// The binary message's length so far, by its frames' heads.
    var messageLength: UInt64 = 0
    /// A text message's UTF-8 so far (1007 at the first bad byte).
    var utf8 = UTF8Validator()
    /// An output message left open (a line longer than a piece): which stream's.
    var openOutput: Int?
    /// The call was cancelled (a SignalMessage); its result says so.
    var cancelled = false
    /// The input was closed (end of input): later input is dropped.
    var inputClosed = false
    /// This text message so far: its length, and a first U+0004 held back (alone, the
    /// message means end of input).
    var textLength: UInt64 = 0
    var heldEndOfInput = false
    /// A text message ended and its newline has not fit in the input window yet.
    var newlineDue = false
    /// Input waits for room in the process's input window: the socket is not read.
    var waitingForRoom = false
    /// A channel connection's message waits in `message` for that room.
    var messagePending = false
    /// Our close frame is queued.
    var closeSent = false
}
