/// The fixed table of shells (`--max-shells`), each with a pending-input buffer that
/// holds one whole frame.
typealias ShellTable = SlotTable<InteractiveShell>

extension SlotTable where Slot == InteractiveShell {
    init(capacity: Int, inputBufferSize: Int) throws(Errno) {
        try self.init(capacity: capacity, bufferBytes: inputBufferSize) { _, memory in InteractiveShell(inputBuffer: memory) }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    /// The slot of the live shell with this SessionID.
    func index(of id: UInt32) -> Int? { (0..<capacity).first { self[$0].state != .free && self[$0].id == id } }

    /// Frees a slot: the master is closed (the caller took it out of epoll); the input
    /// buffer's pages go back.
    func release(_ index: Int) {
        self[index].state = .free
        self[index].master = nil
        self[index].reply = .none
        self[index].killAt = nil
        self[index].outputEnded = false
        self[index].registered = nil
        self[index].ownerSerial = 0
        self[index].pendingInput.clear()
        self[index].generation &+= 1
        releasePages(index)
    }
}
