@testable import DbgAgent
import Testing

@Suite("Eviction choice")
struct EvictionChoiceTests {
    static func peer(_ host: String) -> PeerKey {
        PeerKey(host.contains(":") ? SocketAddress.ipv6(host, port: 1)! : SocketAddress.ipv4(host, port: 1)!)
    }

    @Test("the oldest connection of the address holding the most; none without candidates")
    func heaviestAddressLosesItsOldest() {
        var empty = EvictionChoice()
        #expect(empty.choose() == nil)

        var choice = EvictionChoice()
        choice.add(peer: Self.peer("10.0.0.1"), arrival: 10, slot: 0)  // the oldest overall, but alone
        choice.add(peer: Self.peer("10.0.0.2"), arrival: 50, slot: 1)
        choice.add(peer: Self.peer("::ffff:10.0.0.2"), arrival: 30, slot: 2)  // the same peer, mapped
        choice.add(peer: Self.peer("10.0.0.2"), arrival: 40, slot: 3)
        choice.add(peer: Self.peer("2001:db8::2"), arrival: 20, slot: 4)
        #expect(choice.choose() == 2)
    }

    @Test("between addresses holding as many, the one whose oldest is older")
    func tiesGoToTheOlder() {
        var choice = EvictionChoice()
        choice.add(peer: Self.peer("192.0.2.9"), arrival: 70, slot: 5)
        choice.add(peer: Self.peer("192.0.2.1"), arrival: 80, slot: 6)
        choice.add(peer: Self.peer("192.0.2.9"), arrival: 60, slot: 7)
        choice.add(peer: Self.peer("192.0.2.1"), arrival: 55, slot: 8)
        #expect(choice.choose() == 8)
    }

    @Test("a flood of distinct addresses around one heavy address: the heavy one's oldest, in any order")
    func manyAddresses() {
        for seed in 1...20 {
            var choice = EvictionChoice()
            var state = UInt64(seed)
            var slots = Array(0..<1000)
            // A deterministic shuffle, so each seed feeds the sort a different order.
            for index in slots.indices.reversed() {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                slots.swapAt(index, Int(state >> 33) % (index + 1))
            }
            for (order, slot) in slots.enumerated() {
                let heavy = slot % 100 == 0  // 10 connections of one address
                let host = heavy ? "198.51.100.7" : "10.\(slot / 256).\(slot % 256).1"
                choice.add(peer: Self.peer(host), arrival: UInt64(1000 + order), slot: slot)
            }
            let heavySlots = slots.enumerated().filter { $0.element % 100 == 0 }
            #expect(choice.choose() == heavySlots.min(by: { $0.offset < $1.offset })!.element)
        }
    }
}
