import CSys

/// The fixed table of connection slots. Each slot's buffers are its own slice of one
/// `SlotPool`, assigned once; opening and closing a connection allocates nothing.
struct ConnectionTable: ~Copyable {
    private let table: SlotTable<Connection>
    /// Indices of free slots, used as a stack (capacity reserved up front).
    private var freeSlots: [Int]
    /// Connections opened so far: each one's arrival number.
    private var openedCount: UInt64 = 0
    /// The front end's number in the service core, given to every connection.
    var frontEnd: UInt8 = 0

    init(capacity: Int, receiveSize: Int, transmitSize: Int) throws(Errno) {
        table = try SlotTable(capacity: capacity, bufferBytes: receiveSize + transmitSize) { index, memory in
            Connection(slot: index, receive: ByteBuffer(UnsafeMutableRawBufferPointer(rebasing: memory[0..<receiveSize])),
                       transmit: ByteBuffer(UnsafeMutableRawBufferPointer(rebasing: memory[receiveSize...])))
        }
        freeSlots = []
        freeSlots.reserveCapacity(capacity)
        freeSlots.append(contentsOf: (0..<capacity).reversed())
    }

    var capacity: Int { table.capacity }
    var budgetBytes: Int { table.budgetBytes }
    var slotBytes: Int { table.bufferBytes }
    var openCount: Int { capacity - freeSlots.count }

    /// The slot, for reading and in-place mutation.
    subscript(index: Int) -> Connection {
        unsafeAddress { UnsafePointer(table.address(index)) }
        nonmutating unsafeMutableAddress { table.address(index) }
    }

    /// Takes a free slot for `fd`, which it then owns; nil when the table is full (`fd`
    /// stays the caller's).
    mutating func open(_ fd: FileDescriptor, peer: SocketAddress, now: Milliseconds, maxPayload: UInt32) -> Int? {
        guard let index = freeSlots.popLast() else { return nil }
        self[index].state = .open
        self[index].frontEnd = frontEnd
        self[index].socket = OwnedDescriptor(fd.rawValue)
        self[index].peer = peer
        self[index].localPeer = nil
        if peer.family == CSYS_AF_UNIX {
            var (uid, gid): (UInt32, UInt32) = (0, 0)
            if csys_peer_credentials(fd.rawValue, &uid, &gid) == 0 { self[index].localPeer = (uid, gid) }
        }
        self[index].acceptedAt = now
        openedCount += 1
        self[index].arrival = openedCount
        self[index].lastFrameAt = nil
        self[index].inputClosed = false
        self[index].loggedIn = false
        self[index].tls = .none
        self[index].clientKey = nil
        #if !DBG_NO_TLS
        self[index].records = nil
        #endif
        self[index].framesBlocked = false
        self[index].registered = Interest()
        self[index].peerMaxPayload = maxPayload
        self[index].closeReason = ""
        return index
    }

    /// Closes the slot's socket and returns the slot (and its pages) to the pool.
    mutating func release(_ index: Int) {
        precondition(self[index].isActive)
        self[index].socket = nil
        #if !DBG_NO_TLS
        self[index].records = nil  // the front end gave the engine back
        #endif
        self[index].splicePipe = nil
        self[index].spliceRemaining = 0
        self[index].spliceAfter = 0
        self[index].state = .free
        self[index].receive.clear()
        self[index].transmit.clear()
        self[index].generation &+= 1
        table.releasePages(index)
        freeSlots.append(index)
    }
}
