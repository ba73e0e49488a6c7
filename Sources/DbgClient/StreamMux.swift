import DbgPlatform
import DbgWire
import Glibc

/// Forwarded streams over one logged-in connection (`dbg forward`, `dbg reverse`, `dbg
/// gdbserver`): one thread receives every frame and hands each stream its bytes, credits
/// and end; each local socket has a thread that reads it (within the agent's window) and
/// one that writes it (acknowledging what it wrote, so the agent sends more). A slow local
/// peer therefore holds up only its own stream. Requests (StreamConnect, StreamListen)
/// may come from any thread; their answers are matched by id.
public final class StreamMux: @unchecked Sendable {
    public let connection: AgentConnection
    let token: WireBytes
    /// StreamReceived bytes each stream takes in flight.
    public let window: Int
    /// What each stream's writer has not acknowledged yet before it does (a quarter).
    var ackBatch: Int { window / 4 }
    private let sendLock = Lock()
    private let state = Condition()
    private var answers: [UInt32: ReceivedFrame] = [:]
    private var waiting: Set<UInt32> = []
    private var streams: [UInt32: LocalStream] = [:]
    /// Why the connection ended, once it has.
    public private(set) var ended: ClientError?
    /// A listener's new stream: the caller connects its local side and `attach`es it (or
    /// `abort`s it).
    public var onAccepted: ((Dbg.StreamAcceptedEvent) -> Void)?
    /// An error the agent sent for a one-way request (a stream that had gone).
    public var onStrayError: ((ClientError) -> Void)?
    /// Events that are not the streams' (a process's output and exit, for dbg gdbserver).
    public var onOtherEvent: ((ReceivedFrame) -> Void)?

    public init(connection: AgentConnection, token: WireBytes, window: Int = 1 << 20) {
        self.connection = connection
        self.token = token
        self.window = window
    }

    /// Receives until the connection ends; returns why. Run it on a thread of its own.
    public func receiveAll() -> ClientError {
        var failure = ClientError.io("the connection ended")
        do throws(ClientError) {
            try connection.withAnswerTimeout(seconds: 0) { () throws(ClientError) in
                while true { try connection.receive { (header, payload) throws(ClientError) in try dispatch(header, payload) } }
            }
        } catch {
            failure = error
        }
        let reason = failure
        let gone = state.withLock { () -> [LocalStream] in
            ended = reason
            state.broadcast()
            return Array(streams.values)
        }
        for stream in gone { stream.agentGone() }
        return reason
    }

    private func dispatch(_ header: FrameHeader, _ payload: UnsafeRawBufferPointer) throws(ClientError) {
        if header.id != 0 {
            // An answer nobody waits for any more (its caller gave up) is dropped.
            guard state.withLock({ waiting.contains(header.id) }) else { return }
            let frame = ReceivedFrame(header: header, payload: Array(payload))
            if header.kind == .response, header.op == Dbg.Op.streamConnect.rawValue {
                // Its bytes may follow at once, before the caller attaches a socket.
                let opened = try frame.decode(Dbg.StreamOpened.self)
                prepare(opened.streamID, credit: Int(opened.window))
            }
            state.withLock {
                answers[header.id] = frame
                state.broadcast()
            }
            return
        }
        if header.kind == .error {
            let error = try ReceivedFrame.decode(header, payload, as: ErrorPayload.self)
            onStrayError?(.remote(code: error.code, errno: error.errno, message: error.message.string))
            return
        }
        guard header.kind == .event else { return }
        guard header.service == ServiceID.dbg, let event = Dbg.Event(rawValue: header.op) else {
            onOtherEvent?(ReceivedFrame(header: header, payload: Array(payload)))
            return
        }
        switch event {
        case .streamReceived:
            let data = try ReceivedFrame.decode(header, payload, as: Dbg.StreamData.self, inPlace: true)
            data.data.withUnsafeBytes { bytes in stream(data.streamID)?.received(bytes) }
        case .streamCredit:
            let credit = try ReceivedFrame.decode(header, payload, as: Dbg.StreamCreditEvent.self)
            stream(credit.streamID)?.credited(Int(credit.bytes))
        case .streamEnded:
            stream(try ReceivedFrame.decode(header, payload, as: Dbg.StreamRef.self).streamID)?.remoteEnded()
        case .streamClosed:
            let closed = try ReceivedFrame.decode(header, payload, as: Dbg.StreamClosedEvent.self)
            let gone = state.withLock { streams.removeValue(forKey: closed.streamID) }
            gone?.remoteClosed(error: closed.errno == 0 ? nil : closed.message.string)
        case .streamAccepted:
            let accepted = try ReceivedFrame.decode(header, payload, as: Dbg.StreamAcceptedEvent.self)
            prepare(accepted.streamID, credit: Int(accepted.window))
            onAccepted?(accepted)
        default:
            onOtherEvent?(ReceivedFrame(header: header, payload: Array(payload)))
        }
    }

    private func stream(_ id: UInt32) -> LocalStream? { state.withLock { streams[id] } }

    /// A stream the agent has told of: what arrives for it waits until it is attached.
    private func prepare(_ id: UInt32, credit: Int) {
        let stream = LocalStream(mux: self, id: id, credit: credit)
        state.withLock { streams[id] = stream }
    }

    // MARK: Requests

    /// Sends a request and waits for its answer (from the receiving thread).
    func call<Request: WireCodable, Response: WireCodable>(_ op: Dbg.Op, _ request: Request,
                                                           expecting _: Response.Type = Response.self) throws(ClientError) -> Response {
        let id = try sendLock.withLock { () throws(ClientError) -> UInt32 in
            let id = connection.makeID()
            state.withLock { _ = waiting.insert(id) }
            try connection.send(service: ServiceID.dbg, op: op.rawValue, id: id, request)
            return id
        }
        let frame = try state.withLock { () throws(ClientError) -> ReceivedFrame in
            defer { waiting.remove(id) }
            while answers[id] == nil {
                if let ended { throw ended }
                state.wait()
            }
            return answers.removeValue(forKey: id)!
        }
        if let error = try frame.remoteError() { throw error }
        return try frame.decode(Response.self)
    }

    /// A one-way request; false once the connection is gone.
    @discardableResult
    func send<Request: WireCodable>(_ op: Dbg.Op, _ request: Request) -> Bool {
        sendLock.withLock { (try? connection.send(service: ServiceID.dbg, op: op.rawValue, id: 0, request)) != nil }
    }

    /// A stream to `address` on the board.
    public func connect(_ address: String) throws(ClientError) -> Dbg.StreamOpened {
        try call(.streamConnect, Dbg.StreamConnectRequest(token: token, address: WireBytes(address), window: UInt32(window)))
    }

    /// The board listens on `address`; its connections arrive through `onAccepted`.
    public func listen(_ address: String) throws(ClientError) -> Dbg.StreamListening {
        try call(.streamListen, Dbg.StreamListenRequest(token: token, address: WireBytes(address), window: UInt32(window)))
    }

    /// Closes a listener of `listen`.
    public func unlisten(_ id: UInt32) throws(ClientError) {
        let _: Empty = try call(.streamUnlisten, Dbg.ListenerRef(token: token, listenerID: id))
    }

    /// Starts a streaming process; its output and exit come through `onOtherEvent`.
    public func startProcess(_ spec: AgentConnection.ProcessSpec) throws(ClientError) -> ProcessStarted {
        try call(.processStart, spec.request(token: token))
    }

    /// Relays between the stream `id` (opened by `connect`, or accepted) and the local
    /// socket `fd` (which it then owns) until both ends are done; `done` runs once, with
    /// the stream's error if it failed.
    public func attach(_ id: UInt32, fd: Int32, done: @escaping @Sendable (String?) -> Void) {
        guard let stream = state.withLock({ streams[id] }) else {
            Glibc.close(fd)
            return done(ended == nil ? "the stream was closed" : "the agent went away")
        }
        stream.start(fd: fd, done: done)
    }

    /// Resets a stream nobody on this side will take (a local connect that failed).
    public func abort(_ id: UInt32) { close(id, abort: true) }

    // MARK: For LocalStream

    func sendData(_ id: UInt32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        send(.streamSend, Dbg.StreamSendRequest(token: token, streamID: id, data: WireBytes(viewing: bytes)))
    }

    func acknowledge(_ id: UInt32, _ count: Int) {
        send(.streamAck, Dbg.StreamAckRequest(token: token, streamID: id, bytes: UInt32(count)))
    }

    func close(_ id: UInt32, abort: Bool) {
        send(.streamClose, Dbg.StreamCloseRequest(token: token, streamID: id, abort: abort))
        if abort { _ = state.withLock { streams.removeValue(forKey: id) } }
    }
}
