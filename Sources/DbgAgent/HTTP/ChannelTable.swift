/// A channel connection's channels (seed 004, /wsv2/TOKEN). Channel 0, the control
/// channel, is always open; openChan opens the others, each carrying one service. No
/// service is served yet (each openChan is answered ERROR, saying so), so no other
/// channel is ever open.
struct ChannelTable {
    /// The services of the seed, by the names clients open them with.
    static let services: [(name: StaticString, alias: StaticString)] = [
        ("exec", "exec"), ("shell", "shellrun2"), ("files", "gcsfiles"), ("proxy", "proxy"),
    ]

    /// The service `name` names (its seed name or the production alias), if any.
    static func service(named name: UnsafeRawBufferPointer) -> StaticString? {
        for (service, alias) in services where equal(name, service) || equal(name, alias) { return service }
        return nil
    }

    private static func equal(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.elementsEqual(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
