@testable import DbgAgent
import Testing

@Suite("Ring")
struct RingTests {
    /// Counts its live instances, to see that the ring keeps and releases exactly what it holds.
    final class Tracked {
        nonisolated(unsafe) static var live = 0
        let value: Int
        init(_ value: Int) { self.value = value; Tracked.live += 1 }
        deinit { Tracked.live -= 1 }
    }

    @Test("first in, first out against an array, through wrap-arounds, full and empty, in 20,000 random steps")
    func matchesAnArray() {
        var ring = Ring<Int>(capacity: 7)
        var model: [Int] = []
        var state: UInt64 = 42
        for step in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            if state >> 62 != 0 {  // three pushes for each pop on average, so it fills
                let pushed = ring.push(step)
                #expect(pushed == (model.count < 7))
                if pushed { model.append(step) }
            } else {
                let popped = ring.pop()
                #expect(popped == (model.isEmpty ? nil : model.removeFirst()))
            }
            #expect(ring.count == model.count)
        }
        while let value = ring.pop() { #expect(value == model.removeFirst()) }
        #expect(model.isEmpty && ring.count == 0 && ring.capacity == 7)
    }

    @Test("what is popped is handed over, what is left is held: no copy kept, none lost")
    func ownership() {
        Tracked.live = 0
        do {
            var ring = Ring<Tracked>(capacity: 4)
            for value in 0..<4 {
                let pushed = ring.push(Tracked(value))
                #expect(pushed)
            }
            let overflow = ring.push(Tracked(9))
            #expect(!overflow && Tracked.live == 4)
            let first = ring.pop()?.value
            #expect(first == 0 && Tracked.live == 3)
            let again = ring.push(Tracked(4))
            #expect(again)
            var order: [Int] = []
            while let element = ring.pop() { order.append(element.value) }
            #expect(order == [1, 2, 3, 4] && Tracked.live == 0)
        }
    }
}
