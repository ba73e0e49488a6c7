/// A channel connection's channels (seed 004, /wsv2/TOKEN). Channel 0, the control
/// channel, is always open; openChan opens the others, each carrying one service.
struct ChannelTable {
    /// The services of the seed, by the names clients open them with (the seed's, and
    /// the production protocol's), and what serves each (nil: not served yet).
    static let services: [(name: StaticString, alias: StaticString, served: Service?)] = [
        ("exec", "exec", .exec), ("shell", "shellrun2", .shell), ("files", "gcsfiles", .files), ("proxy", "proxy", proxyService),
    ]
    #if DBG_NO_FORWARD
    static let proxyService: Service? = nil
    #else
    static let proxyService: Service? = .proxy
    #endif

    /// Channels a connection may have open at once.
    static let capacity = 16

    enum Service: Equatable {
        case exec
        case shell
        case files
        case proxy
    }

    struct Channel {
        let id: Int32
        let service: Service
        /// exec: the streaming process of the exec that runs.
        var stream: Int?
        /// proxy: the forwarded stream of its socket, its slot and id (the forwarder frees
        /// a stream when its session ends, and the slot may be taken again).
        var proxy: (slot: Int, id: UInt32)?
        /// The session and ref of the exec that runs, or of a proxy's connect (then of
        /// its disconnect), which their answers carry.
        var session: Int32 = 0
        var ref: [UInt8] = []
        /// The start of a character that the last read of stdout or stderr cut off.
        var carry: [[UInt8]] = [[], []]

        init(id: Int32, service: Service) {
            self.id = id
            self.service = service
        }
    }

    private(set) var channels: [Channel] = []
    /// The file job (a recursive remove, a move) a files channel waits for: one per
    /// connection at a time; the channel, session and ref its answer carries.
    var fileJob: (channel: Int32, session: Int32, ref: [UInt8])?
    /// A `file` answer larger than the transmit buffer: its head is out and its content
    /// follows from the file as the buffer drains; nothing else is written to the
    /// connection until it is out.
    var outgoingFile: OutgoingFile?
    /// A `write` larger than the message buffer, whose content goes into the file as it
    /// arrives; answered at the end of its message.
    var incomingFile: IncomingFile?

    struct OutgoingFile {
        let path: [UInt8]
        var offset: UInt64
        let end: UInt64
    }

    struct IncomingFile {
        let channel: Int32
        let session: Int32
        let ref: [UInt8]
        /// The resolved path; empty when `failure` was known at the start.
        let path: [UInt8]
        var offset: UInt64 = 0
        let length: UInt64
        /// Why the write failed: the rest of the content is read and dropped, and the
        /// answer says this.
        var failure: String?
        var remaining: UInt64 { length - offset }
    }

    /// Channel numbers are not reused within a connection: a late answer cannot be
    /// taken for a new channel's.
    private var lastID: Int32 = 0

    /// The new channel's number; nil when `capacity` are open.
    mutating func open(_ service: Service) -> Int32? {
        guard channels.count < ChannelTable.capacity, lastID < Int32.max else { return nil }
        lastID += 1
        channels.append(Channel(id: lastID, service: service))
        return lastID
    }

    mutating func close(at index: Int) { channels.remove(at: index) }

    func index(of id: Int32) -> Int? { channels.firstIndex { $0.id == id } }

    func index(ofStream stream: Int) -> Int? { channels.firstIndex { $0.stream == stream } }

    func index(ofProxy stream: Int) -> Int? { channels.firstIndex { $0.proxy?.slot == stream } }

    subscript(index: Int) -> Channel {
        get { channels[index] }
        set { channels[index] = newValue }
    }

    /// The service `name` names (its seed name or the production alias), if any.
    static func service(named name: UnsafeRawBufferPointer) -> (name: StaticString, served: Service?)? {
        for (service, alias, served) in services where equal(name, service) || equal(name, alias) { return (service, served) }
        return nil
    }

    static func equal(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.elementsEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
