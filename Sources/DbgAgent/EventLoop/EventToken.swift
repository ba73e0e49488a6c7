/// What a readiness event is about: the kind of source, its slot index and the slot's
/// generation. The loop hands tokens back untouched; the generation lets the agent drop
/// events for a slot that was closed and reused within the same batch.
struct EventToken: Equatable {
    enum Kind: UInt8 {
        case listener = 1
        case connection = 2
        case timer = 3
        case signals = 4
        /// Worker threads finished jobs.
        case workers = 5
        /// A running command's stdout or stderr pipe (index: command slot).
        case commandStdout = 6
        case commandStderr = 7
        /// A shell's PTY master (index: shell slot).
        case shell = 8
        /// The distro thread finished an Install or Remove.
        case distroJobs = 9
        /// A serial line's tty, and its end of the bridge to its connection (index: line).
        case serialTTY = 10
        case serialBridge = 11
        /// The file worker threads finished jobs (Hash, Rename, distro Status).
        case fileWorkers = 12
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

    init?(rawValue: UInt64) {
        guard let kind = Kind(rawValue: UInt8(truncatingIfNeeded: rawValue >> 56)) else { return nil }
        self.init(kind, index: UInt32(truncatingIfNeeded: rawValue), generation: UInt32(truncatingIfNeeded: rawValue >> 32))
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
