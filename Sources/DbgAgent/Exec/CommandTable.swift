import DbgWire

/// The fixed table of running commands (`--max-exec`), each slot with its two capture
/// buffers carved from one pool, plus one buffer that output beyond the bound is read
/// into and dropped.
struct CommandTable: ~Copyable {
    let capacity: Int
    private let slots: UnsafeMutableBufferPointer<RunningCommand>
    private let pool: SlotPool
    let discard: UnsafeMutableRawBufferPointer

    init(capacity: Int, maxOutput: Int) throws(Errno) {
        self.capacity = capacity
        pool = try SlotPool(slotSize: 2 * maxOutput, slotCount: capacity)
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity {
            let memory = pool.slot(index)
            (slots.baseAddress! + index).initialize(to: RunningCommand(
                stdout: UnsafeMutableRawBufferPointer(rebasing: memory[0..<maxOutput]),
                stderr: UnsafeMutableRawBufferPointer(rebasing: memory[maxOutput..<(2 * maxOutput)])))
        }
        discard = .allocate(byteCount: 64 << 10, alignment: 16)
    }

    deinit {
        slots.baseAddress!.deinitialize(count: capacity)
        slots.deallocate()
        discard.deallocate()
    }

    var budgetBytes: Int { pool.totalBytes + discard.count }

    subscript(index: Int) -> RunningCommand {
        unsafeAddress { UnsafePointer(slots.baseAddress! + index) }
        nonmutating unsafeMutableAddress { slots.baseAddress! + index }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    /// Marks a slot free again and hands its capture pages back to the kernel.
    func release(_ index: Int) {
        self[index].state = .free
        self[index].connectionSlot = -1
        self[index].killAt = nil
        self[index].service = ServiceID.dbg
        self[index].generation &+= 1
        pool.release(index)
    }
}
