import DbgWire

/// The fixed table of shells (`--max-shells`), each with a pending-input buffer that
/// holds one whole frame, carved from one pool.
struct ShellTable: ~Copyable {
    let capacity: Int
    private let slots: UnsafeMutableBufferPointer<InteractiveShell>
    private let pool: SlotPool
    private var lastID: UInt32 = 0

    init(capacity: Int, inputBufferSize: Int) throws(Errno) {
        self.capacity = capacity
        pool = try SlotPool(slotSize: inputBufferSize, slotCount: capacity)
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity {
            (slots.baseAddress! + index).initialize(to: InteractiveShell(inputBuffer: pool.slot(index)))
        }
    }

    deinit {
        slots.baseAddress!.deinitialize(count: capacity)
        slots.deallocate()
    }

    var budgetBytes: Int { pool.totalBytes }

    subscript(index: Int) -> InteractiveShell {
        unsafeAddress { UnsafePointer(slots.baseAddress! + index) }
        nonmutating unsafeMutableAddress { slots.baseAddress! + index }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    /// The slot of the live shell with this SessionID.
    func index(of id: UInt32) -> Int? { (0..<capacity).first { self[$0].state != .free && self[$0].id == id } }

    /// A SessionID never handed out before (0 is skipped).
    mutating func newID() -> UInt32 {
        lastID = lastID == UInt32.max ? 1 : lastID + 1
        return lastID
    }

    /// Frees a slot: the master is closed by the caller; the input buffer's pages go back.
    func release(_ index: Int) {
        self[index].state = .free
        self[index].master = FileDescriptor(-1)
        self[index].connectionSlot = -1
        self[index].killAt = nil
        self[index].outputEnded = false
        self[index].registered = nil
        self[index].service = ServiceID.dbg
        self[index].ownerSerial = 0
        self[index].pendingInput.clear()
        self[index].generation &+= 1
        pool.release(index)
    }
}
