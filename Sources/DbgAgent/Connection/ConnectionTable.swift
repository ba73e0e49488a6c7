import CSys

/// The fixed table of connection slots. Each slot's buffers are its own slice of one
/// `SlotPool`, assigned once; opening and closing a connection allocates nothing.
struct ConnectionTable: ~Copyable {
    let capacity: Int
    private let slots: UnsafeMutableBufferPointer<Connection>
    private let pool: SlotPool
    /// Indices of free slots, used as a stack (capacity reserved up front).
    private var freeSlots: [Int]

    init(capacity: Int, receiveSize: Int, transmitSize: Int) throws(Errno) {
        self.capacity = capacity
        pool = try SlotPool(slotSize: receiveSize + transmitSize, slotCount: capacity)
        slots = .allocate(capacity: capacity)
        freeSlots = []
        freeSlots.reserveCapacity(capacity)
        for index in 0..<capacity {
            let memory = pool.slot(index)
            let receive = UnsafeMutableRawBufferPointer(rebasing: memory[0..<receiveSize])
            let transmit = UnsafeMutableRawBufferPointer(rebasing: memory[receiveSize...])
            (slots.baseAddress! + index).initialize(to: Connection(slot: index, receive: ByteBuffer(receive), transmit: ByteBuffer(transmit)))
            freeSlots.append(capacity - 1 - index)
        }
    }

    deinit {
        slots.baseAddress!.deinitialize(count: capacity)
        slots.deallocate()
    }

    var budgetBytes: Int { pool.totalBytes }
    var slotBytes: Int { pool.slotSize }
    var openCount: Int { capacity - freeSlots.count }

    /// The slot, for reading and in-place mutation.
    subscript(index: Int) -> Connection {
        unsafeAddress { UnsafePointer(slots.baseAddress! + index) }
        nonmutating unsafeMutableAddress { slots.baseAddress! + index }
    }

    /// Takes a free slot for `fd`; nil when the table is full.
    mutating func open(_ fd: FileDescriptor, peer: SocketAddress, now: Milliseconds, maxPayload: UInt32) -> Int? {
        guard let index = freeSlots.popLast() else { return nil }
        self[index].state = .open
        self[index].fd = fd
        self[index].peer = peer
        self[index].localPeer = nil
        if peer.family == CSYS_AF_UNIX {
            var (uid, gid): (UInt32, UInt32) = (0, 0)
            if csys_peer_credentials(fd.rawValue, &uid, &gid) == 0 { self[index].localPeer = (uid, gid) }
        }
        self[index].acceptedAt = now
        self[index].lastFrameAt = nil
        self[index].inputClosed = false
        self[index].authFailures = 0
        self[index].loggedIn = false
        self[index].framesBlocked = false
        self[index].registered = Interest()
        self[index].peerMaxPayload = maxPayload
        self[index].closeReason = ""
        return index
    }

    /// Closes the slot's socket and returns the slot (and its pages) to the pool.
    mutating func release(_ index: Int) {
        precondition(self[index].isActive)
        self[index].fd.close()
        self[index].fd = FileDescriptor(-1)
        if let pipe = self[index].splicePipe {
            pipe.read.close()
            pipe.write.close()
            self[index].splicePipe = nil
        }
        self[index].spliceRemaining = 0
        self[index].spliceAfter = 0
        self[index].state = .free
        self[index].receive.clear()
        self[index].transmit.clear()
        self[index].generation &+= 1
        pool.release(index)
        freeSlots.append(index)
    }
}
