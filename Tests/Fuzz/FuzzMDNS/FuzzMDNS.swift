// libFuzzer target: a multicast DNS packet as anyone on the link may send it, read by
// DNSMessage (the agent's responder and the client's browser). Reading never traps and
// stays bounded (names of at most 255 bytes, pointers only backwards, 64 entries per
// section); what was read encodes again and reads back as the same message.
import DbgPlatform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMDNS(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    guard let message = try? DNSMessage.parse(input) else { return 0 }
    for question in message.questions { precondition(question.name.labels.reduce(0) { $0 + $1.count + 1 } <= 255) }
    precondition(message.answers.count <= DNSMessage.maxEntries && message.additionals.count <= DNSMessage.maxEntries)
    guard let encoded = message.encode(limit: 1 << 20) else { return 0 }
    let again = encoded.withUnsafeBytes { try? DNSMessage.parse($0) }
    precondition(again != nil, "an encoded message reads back")
    precondition(again!.questions.count == message.questions.count && again!.answers.count == message.answers.count)
    for (a, b) in zip(again!.answers, message.answers) {
        precondition(a.name == b.name && a.type == b.type && a.ttl == b.ttl)
    }
    return 0
}
