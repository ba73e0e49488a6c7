/// A fixed table of slots, each with its own slice of one `SlotPool` (its buffers),
/// allocated once at start-up: the shape of the connection, command and shell tables.
/// A slot is reached in place (no copy of the whole value on access), which is also
/// what lets a slot own what cannot be copied (its descriptors); freeing it is the
/// owner's reset plus `releasePages`, which hands its buffer pages to the kernel.
struct SlotTable<Slot: ~Copyable>: ~Copyable {
    private let storage: SlotStorage<Slot>
    private let pool: SlotPool

    /// `makeSlot` builds slot `index` over its buffer memory.
    init(capacity: Int, bufferBytes: Int, _ makeSlot: (Int, UnsafeMutableRawBufferPointer) -> Slot) throws(Errno) {
        let pool = try SlotPool(slotSize: bufferBytes, slotCount: capacity)
        storage = SlotStorage(capacity: capacity) { makeSlot($0, pool.slot($0)) }
        self.pool = pool
    }

    var capacity: Int { storage.capacity }
    /// The mapping's size, for the memory budget.
    var budgetBytes: Int { pool.totalBytes }
    /// One slot's buffer size (rounded up to whole pages).
    var bufferBytes: Int { pool.slotSize }

    subscript(index: Int) -> Slot {
        unsafeAddress { UnsafePointer(storage.base + index) }
        nonmutating unsafeMutableAddress { storage.base + index }
    }

    /// Where slot `index` lives, for a table that wraps this one and forwards its subscript.
    func address(_ index: Int) -> UnsafeMutablePointer<Slot> { storage.base + index }

    /// The slot's buffer pages go back to the kernel; its next use starts from zeroes.
    func releasePages(_ index: Int) { pool.release(index) }
}

/// The slots' memory. A class, not a deinit on SlotTable: Embedded Swift cannot give a
/// generic non-copyable struct a deinit when its elements are non-copyable too.
private final class SlotStorage<Slot: ~Copyable> {
    let base: UnsafeMutablePointer<Slot>
    let capacity: Int

    init(capacity: Int, _ makeSlot: (Int) -> Slot) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
        for index in 0..<capacity { (base + index).initialize(to: makeSlot(index)) }
    }

    deinit {
        base.deinitialize(count: capacity)
        base.deallocate()
    }
}
