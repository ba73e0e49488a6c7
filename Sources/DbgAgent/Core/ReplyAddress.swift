import DbgWire

/// Which connection a piece of work answers to: the front end it came through, a slot
/// of that front end's connection table, and the slot's generation when the work began.
/// A reused slot has another generation, so work of a closed connection never reaches
/// its successor.
struct ConnectionRef: Equatable {
    /// As `ServiceCore.register` numbered the front end.
    let frontEnd: UInt8
    let slot: Int
    let generation: UInt32

    init(frontEnd: UInt8, slot: Int, generation: UInt32) {
        self.frontEnd = frontEnd
        self.slot = slot
        self.generation = generation
    }

    /// Work whose connection has closed: it runs to its end and its result is dropped.
    static let detached = ConnectionRef(frontEnd: 0, slot: -1, generation: 0)

    var isDetached: Bool { slot < 0 }
}

/// Where the answer to a request goes: the connection, and the request it answers (its
/// service and op say which answer, its id which request).
struct ReplyAddress {
    var connection: ConnectionRef
    let request: FrameHeader

    /// For a slot that holds no work.
    static let none = ReplyAddress(connection: .detached, request: .connectionLevel)

    var isDetached: Bool { connection.isDetached }

    /// The connection has closed: whatever is still running answers nobody.
    mutating func detach() { connection = .detached }
}
