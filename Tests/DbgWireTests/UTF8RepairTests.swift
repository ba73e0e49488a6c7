import DbgWire
import Testing

@Suite("Output made UTF-8 for text frames")
struct UTF8RepairTests {
    private func repair(_ bytes: [UInt8], max: Int = 1 << 20, final: Bool = true) -> (read: Int, out: [UInt8]) {
        var out = [UInt8](repeating: 0, count: 3 * bytes.count + 3)
        let (read, written) = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { UTF8Repair.copy(input, into: $0, maxOut: Swift.min(max, $0.count), final: final) }
        }
        return (read, Array(out[0..<written]))
    }

    @Test("valid text is copied; stray, overlong, surrogate and cut bytes become U+FFFD each")
    func replaces() {
        #expect(repair(Array("grüß € 𝄞".utf8)).out == Array("grüß € 𝄞".utf8))
        #expect(repair([0x61, 0xFF, 0x62]).out == Array("a\u{FFFD}b".utf8))
        #expect(repair([0xC0, 0xAF]).out == Array("\u{FFFD}\u{FFFD}".utf8), "an overlong slash")
        #expect(repair([0xED, 0xA0, 0x80]).out == Array("\u{FFFD}\u{FFFD}\u{FFFD}".utf8), "a surrogate")
        #expect(repair([0xE2, 0x82, 0x41]).out == Array("\u{FFFD}\u{FFFD}A".utf8), "a character cut by a byte")
        #expect(repair([0x61, 0xE2, 0x82]).out == Array("a\u{FFFD}\u{FFFD}".utf8), "cut at the end of final output")
    }

    @Test("a piece that is not the last leaves a cut character for the next, and stays within its limit")
    func pieces() {
        let (read, out) = repair([0x61, 0xE2, 0x82], final: false)
        #expect(read == 1 && out == [0x61])
        let euro = Array("€€€".utf8)
        let (partRead, part) = repair(euro, max: 7)
        #expect(partRead == 6 && part == Array("€€".utf8), "never half a character")
        #expect(repair([0xFF, 0xFF], max: 5).out == Array("\u{FFFD}".utf8))
    }
}
