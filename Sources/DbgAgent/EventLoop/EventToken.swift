/// What a readiness event is about: the kind of source, its slot index and the slot's
/// generation. The loop hands tokens back untouched; the generation lets a source drop
/// events for a slot that was closed and reused within the same batch.
struct EventToken: Equatable {
    /// A kind of source, as `EventLoop.register` handed it out (one per kind, at
    /// start-up); its events go to the handler registered with it.
    struct Kind: Equatable {
        let rawValue: UInt8

        /// Not registered yet.
        static let none = Kind(rawValue: 0)
    }

    var kind: Kind
    var index: UInt32
    /// Only the low 24 bits are kept.
    var generation: UInt32

    init(_ kind: Kind, index: UInt32 = 0, generation: UInt32 = 0) {
        self.kind = kind
        self.index = index
        self.generation = generation & 0xFF_FFFF
    }

    var rawValue: UInt64 {
        UInt64(kind.rawValue) << 56 | UInt64(generation & 0xFF_FFFF) << 32 | UInt64(index)
    }

    init(rawValue: UInt64) {
        self.init(Kind(rawValue: UInt8(truncatingIfNeeded: rawValue >> 56)), index: UInt32(truncatingIfNeeded: rawValue),
                  generation: UInt32(truncatingIfNeeded: rawValue >> 32))
    }
}

/// Which readiness a source wants to hear about.
struct Interest: OptionSet, Equatable, Sendable {
    let rawValue: UInt32
    init(rawValue: UInt32) { self.rawValue = rawValue }

    static let readable = Interest(rawValue: 1)
    static let writable = Interest(rawValue: 2)
}

/// What the kernel reported. Hang-up and error are folded into `readable` as well, so a
/// handler that reads sees the EOF or the error from read itself.
struct Readiness {
    var readable: Bool
    var writable: Bool
}
