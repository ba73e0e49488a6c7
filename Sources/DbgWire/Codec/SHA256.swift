import CSHA256

/// SHA-256 (FIPS 180-4), fed in chunks of any size: the digest of the Hash op, computed
/// the same way by the agent and the client. Our own, so the firmware needs no crypto
/// library; checked against the FIPS test vectors in the tests. Whole blocks go through
/// the CPU's SHA-256 instructions where it has them (SHA-NI, ARMv8 SHA2: CSHA256),
/// through the rounds below otherwise.
public struct SHA256: ~Copyable {
    public static let digestSize = 32

    /// Whether this CPU's SHA-256 instructions are there to be used.
    public static let hardwareAvailable = csha256_hardware() != 0

    /// h0...h7, then the 64-word message schedule, then one 64-byte block being filled.
    private let memory: UnsafeMutableRawPointer
    private var blockFill = 0
    private var totalBytes: UInt64 = 0
    private let hardware: Bool

    /// `hardware: false` uses the software rounds even where the instructions exist (tests).
    public init(hardware: Bool = SHA256.hardwareAvailable) {
        self.hardware = hardware
        memory = .allocate(byteCount: 8 * 4 + 64 * 4 + 64, alignment: 8)
        let initial: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        for (index, word) in initial.enumerated() { state[index] = word }
    }

    deinit { memory.deallocate() }

    private var state: UnsafeMutablePointer<UInt32> { memory.assumingMemoryBound(to: UInt32.self) }
    private var schedule: UnsafeMutablePointer<UInt32> { (memory + 32).assumingMemoryBound(to: UInt32.self) }
    private var block: UnsafeMutablePointer<UInt8> { (memory + 32 + 256).assumingMemoryBound(to: UInt8.self) }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        totalBytes &+= UInt64(left)
        if blockFill > 0 {
            let take = min(64 - blockFill, left)
            (block + blockFill).update(from: next.assumingMemoryBound(to: UInt8.self), count: take)
            blockFill += take
            next += take
            left -= take
            guard blockFill == 64 else { return }
            compress(UnsafeRawPointer(block), blocks: 1)
            blockFill = 0
        }
        if left >= 64 {
            let blocks = left / 64
            compress(next, blocks: blocks)
            next += 64 * blocks
            left -= 64 * blocks
        }
        if left > 0 {
            block.update(from: next.assumingMemoryBound(to: UInt8.self), count: left)
            blockFill = left
        }
    }

    /// The digest; the hasher is used up.
    public consuming func finish() -> [UInt8] {
        let bitLength = totalBytes &* 8
        var padding = [UInt8](repeating: 0, count: blockFill < 56 ? 56 - blockFill : 120 - blockFill)
        padding[0] = 0x80
        for shift in stride(from: 56, through: 0, by: -8) { padding.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        let total = totalBytes
        padding.withUnsafeBytes { update($0) }
        totalBytes = total
        var digest: [UInt8] = []
        digest.reserveCapacity(SHA256.digestSize)
        for index in 0..<8 {
            let word = state[index]
            digest += [UInt8(word >> 24), UInt8(truncatingIfNeeded: word >> 16), UInt8(truncatingIfNeeded: word >> 8),
                       UInt8(truncatingIfNeeded: word)]
        }
        return digest
    }

    /// `blocks` 64-byte blocks into the state.
    private func compress(_ input: UnsafeRawPointer, blocks: Int) {
        if hardware {
            csha256_blocks(state, input.assumingMemoryBound(to: UInt8.self), blocks)
            return
        }
        for index in 0..<blocks { compressInSoftware(input + 64 * index) }
    }

    /// One 64-byte block into the state, by the rounds of FIPS 180-4.
    private func compressInSoftware(_ input: UnsafeRawPointer) {
        let w = schedule
        for t in 0..<16 { w[t] = UInt32(bigEndian: input.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self)) }
        for t in 16..<64 {
            let s0 = rotate(w[t - 15], 7) ^ rotate(w[t - 15], 18) ^ (w[t - 15] >> 3)
            let s1 = rotate(w[t - 2], 17) ^ rotate(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
        }
        var a = state[0], b = state[1], c = state[2], d = state[3]
        var e = state[4], f = state[5], g = state[6], h = state[7]
        let k = csha256_round_constants()!
        for t in 0..<64 {
            let s1 = rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)
            let choose = (e & f) ^ (~e & g)
            let t1 = h &+ s1 &+ choose &+ k[t] &+ w[t]
            let s0 = rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)
            let majority = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ majority
            h = g
            g = f
            f = e
            e = d &+ t1
            d = c
            c = b
            b = a
            a = t1 &+ t2
        }
        state[0] &+= a
        state[1] &+= b
        state[2] &+= c
        state[3] &+= d
        state[4] &+= e
        state[5] &+= f
        state[6] &+= g
        state[7] &+= h
    }

    @inline(__always)
    private func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 { (value >> count) | (value << (32 - count)) }
}
