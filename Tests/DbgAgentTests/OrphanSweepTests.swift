@testable import DbgAgent
import Testing

@Suite("Orphan sweep")
struct OrphanSweepTests {
    @Test("/proc/PID/stat: state, parent and session, with spaces and parentheses in the command name")
    func parseStat() {
        func parse(_ text: String) -> (UInt8, Int32, Int32)? {
            Array(text.utf8).withUnsafeBytes { OrphanSweep.parse($0) }
        }
        let plain = parse("1234 (sleep) S 1 1234 1234 0 -1 4194560 100 0 0 0")
        #expect(plain?.0 == UInt8(ascii: "S") && plain?.1 == 1 && plain?.2 == 1234)
        let odd = parse("77 (a) b) (c d) Z 42 77 99 0 -1")
        #expect(odd?.0 == UInt8(ascii: "Z") && odd?.1 == 42 && odd?.2 == 99)
        #expect(parse("garbage") == nil)
        #expect(parse("1 (x) S") == nil)
        #expect(parse("1 (x) S 99999999999 1 1") == nil)  // beyond a pid
    }

    @Test("a sweep is asked for once per burst of exits, and only runs when due")
    func scheduling() {
        var sweep = OrphanSweep()
        let due = sweep.request(now: 1000)
        #expect(due == 1000 + OrphanSweep.delayMs)
        #expect(sweep.request(now: 1050) == due)  // coalesced
        var listed = false
        #expect(sweep.sweepIfDue(now: 1050) { listed = true; return [] } == due)
        #expect(!listed)
    }
}
