/// A fixed table of slots, each with its own slice of one `SlotPool` (its buffers),
/// allocated once at start-up: the shape of the connection, command and shell tables.
/// A slot is reached in place (no copy of the whole value on access); freeing it is
/// the owner's reset plus `releasePages`, which hands its buffer pages to the kernel.
struct SlotTable<Slot>: ~Copyable {
    let capacity: Int
    private let slots: UnsafeMutableBufferPointer<Slot>
    private let pool: SlotPool

    /// `makeSlot` builds slot `index` over its buffer memory.
    init(capacity: Int, bufferBytes: Int, _ makeSlot: (Int, UnsafeMutableRawBufferPointer) -> Slot) throws(Errno) {
        self.capacity = capacity
        pool = try SlotPool(slotSize: bufferBytes, slotCount: capacity)
        slots = .allocate(capacity: capacity)
        for index in 0..<capacity {
            (slots.baseAddress! + index).initialize(to: makeSlot(index, pool.slot(index)))
        }
    }

    deinit {
        slots.baseAddress!.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// The mapping's size, for the memory budget.
    var budgetBytes: Int { pool.totalBytes }
    /// One slot's buffer size (rounded up to whole pages).
    var bufferBytes: Int { pool.slotSize }

    subscript(index: Int) -> Slot {
        unsafeAddress { UnsafePointer(slots.baseAddress! + index) }
        nonmutating unsafeMutableAddress { slots.baseAddress! + index }
    }

    /// Where slot `index` lives, for a table that wraps this one and forwards its subscript.
    func address(_ index: Int) -> UnsafeMutablePointer<Slot> { slots.baseAddress! + index }

    /// The slot's buffer pages go back to the kernel; its next use starts from zeroes.
    func releasePages(_ index: Int) { pool.release(index) }
}
