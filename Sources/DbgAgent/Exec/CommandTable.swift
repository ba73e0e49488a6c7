/// The fixed table of running commands (`--max-exec`), each slot with its two capture
/// buffers.
typealias CommandTable = SlotTable<RunningCommand>

extension SlotTable where Slot == RunningCommand {
    init(capacity: Int, maxOutput: Int) throws(Errno) {
        try self.init(capacity: capacity, bufferBytes: 2 * maxOutput) { _, memory in
            RunningCommand(stdout: UnsafeMutableRawBufferPointer(rebasing: memory[0..<maxOutput]),
                           stderr: UnsafeMutableRawBufferPointer(rebasing: memory[maxOutput..<(2 * maxOutput)]))
        }
    }

    var freeSlot: Int? { (0..<capacity).first { self[$0].state == .free } }

    /// Marks a slot free again and hands its capture pages back to the kernel.
    func release(_ index: Int) {
        self[index].state = .free
        self[index].reply = .none
        self[index].killAt = nil
        self[index].generation &+= 1
        releasePages(index)
    }
}
