/// A linear buffer over fixed memory with read and write indices: bytes are appended at
/// the write index and consumed from the read index. When everything is consumed both
/// return to the start, so the common case never moves memory.
struct ByteBuffer {
    private let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var readIndex = 0
    private(set) var writeIndex = 0

    init(_ memory: UnsafeMutableRawBufferPointer) {
        base = memory.baseAddress!
        capacity = memory.count
    }

    var readableCount: Int { writeIndex - readIndex }
    var isEmpty: Bool { readIndex == writeIndex }

    var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + readIndex, count: readableCount)
    }

    var writable: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + writeIndex, count: capacity - writeIndex)
    }

    mutating func didWrite(_ count: Int) {
        precondition(count <= capacity - writeIndex)
        writeIndex += count
    }

    mutating func didRead(_ count: Int) {
        precondition(count <= readableCount)
        readIndex += count
        if readIndex == writeIndex { clear() }
    }

    mutating func clear() {
        readIndex = 0
        writeIndex = 0
    }

    /// Makes at least `count` bytes writable by moving unread bytes to the front, if that
    /// helps. Returns false when even then there would be too little room.
    mutating func reserveWritable(_ count: Int) -> Bool {
        if capacity - writeIndex >= count { return true }
        guard capacity - readableCount >= count else { return false }
        compact()
        return true
    }

    /// Moves the unread bytes to the start of the buffer.
    mutating func compact() {
        guard readIndex > 0 else { return }
        let unread = readableCount
        if unread > 0 { base.copyMemory(from: base + readIndex, byteCount: unread) }
        readIndex = 0
        writeIndex = unread
    }
}
