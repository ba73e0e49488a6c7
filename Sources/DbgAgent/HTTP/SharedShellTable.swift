/// The shells of the channel protocol (seed 004) and the channels attached to each. A
/// shell is a login shell on a PTY in the process host, owned by the HTTP front end and
/// not by a connection, so that it can outlive the channel that opened it: a named one
/// is found again by its user and name (openChan ATTACH), its output goes to every
/// channel attached to it, and it lives until the last attached channel closes it. A
/// shell without a name belongs to the channel that opened it alone.
struct SharedShellTable {
    /// A channel attached to a shell: its connection (slot and generation), its number,
    /// and the session its openChan carried, which the shell's output carries to it.
    struct Attachment: Equatable {
        let slot: Int
        let generation: UInt32
        let channel: Int32
        let session: Int32
    }

    struct Shell {
        /// The process host's shell slot (the key: it is freed here, once the exit is told).
        let index: Int
        let uid: UInt32
        /// Empty: the opening channel's own shell, which nobody can attach to.
        let name: [UInt8]
        var attached: [Attachment] = []
        /// Hung up by its last channel: its exit is on the way, and its name is free.
        var closing = false
        /// The start of a character that the last read of the PTY cut off.
        var carry: [UInt8] = []
    }

    /// A name's longest form, in bytes.
    static let maxNameBytes = 128

    private(set) var shells: [Shell] = []

    init(capacity: Int) { shells.reserveCapacity(capacity) }

    /// The position of the shell in process host slot `index`.
    func position(ofShell index: Int) -> Int? { shells.firstIndex { $0.index == index } }

    /// The position of `uid`'s shell called `name` (never an unnamed one).
    func position(ofUser uid: UInt32, named name: [UInt8]) -> Int? {
        guard !name.isEmpty else { return nil }
        return shells.firstIndex { $0.uid == uid && $0.name == name && !$0.closing }
    }

    /// The position of the shell that this channel is attached to.
    func position(ofSlot slot: Int, channel: Int32) -> Int? {
        shells.firstIndex { $0.attached.contains { $0.slot == slot && $0.channel == channel } }
    }

    /// The positions of the shells a connection has channels attached to.
    func positions(ofSlot slot: Int) -> [Int] {
        shells.indices.filter { shells[$0].attached.contains { $0.slot == slot } }
    }

    mutating func add(_ shell: Shell) { shells.append(shell) }

    mutating func remove(at position: Int) { shells.remove(at: position) }

    subscript(position: Int) -> Shell {
        get { shells[position] }
        set { shells[position] = newValue }
    }

    /// Takes a channel off its shell; returns the attachment, or nil when it had none.
    mutating func detach(slot: Int, channel: Int32, from position: Int) -> Attachment? {
        guard let at = shells[position].attached.firstIndex(where: { $0.slot == slot && $0.channel == channel }) else { return nil }
        return shells[position].attached.remove(at: at)
    }
}
