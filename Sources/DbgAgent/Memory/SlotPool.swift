import CSys

/// Equal fixed-size slots carved from one anonymous mapping made at start-up: the
/// memory budget. Nothing is allocated per connection afterwards. Pages are committed
/// only when first touched, and a released slot hands its pages back (MADV_DONTNEED),
/// so resident memory follows actual use while never exceeding the budget.
struct SlotPool: ~Copyable {
    let slotSize: Int
    let slotCount: Int
    private let base: UnsafeMutableRawPointer

    init(slotSize requested: Int, slotCount: Int) throws(Errno) {
        let page = Int(csys_page_size())
        slotSize = (requested + page - 1) / page * page
        self.slotCount = slotCount
        let mapping = mmap(nil, slotSize * slotCount, CSYS_PROT_READ_WRITE, CSYS_MAP_PRIVATE_ANONYMOUS, -1, 0)
        guard let mapping, mapping != UnsafeMutableRawPointer(bitPattern: -1) else { throw .current }
        base = mapping
    }

    deinit { munmap(base, slotSize * slotCount) }

    var totalBytes: Int { slotSize * slotCount }

    func slot(_ index: Int) -> UnsafeMutableRawBufferPointer {
        precondition(index >= 0 && index < slotCount)
        return UnsafeMutableRawBufferPointer(start: base + index * slotSize, count: slotSize)
    }

    /// Returns the slot's pages to the kernel; its next use starts from zeroed pages.
    func release(_ index: Int) {
        _ = madvise(base + index * slotSize, slotSize, CSYS_MADV_DONTNEED)
    }
}
