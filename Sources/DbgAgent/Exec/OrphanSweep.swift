import CSys
import DbgWire

/// Processes that commands and shells leave behind. The agent is a child subreaper, so a
/// descendant whose parent dies (`setsid sleep 77 &`, a daemon's double fork) becomes
/// the agent's child instead of init's, however it left its process group and session.
/// A sweep finds those adopted children in /proc, reaps the dead ones, and kills the
/// living ones once no command or shell that runs as their user remains: the process
/// tree of something that ended does not outlive it.
///
/// Adopted children are told from the agent's own (PAM's helpers, forked by a worker
/// thread) by their session: a command starts a session of its own, and no descendant
/// can join the agent's. Which command an orphan came from cannot be known, so they are
/// matched by user id (the owner of /proc/PID).
struct OrphanSweep {
    /// A sweep runs this long after the SIGCHLD that asks for it, so a burst of exits
    /// costs one scan of /proc.
    static let delayMs: Milliseconds = 100

    private let agentPID = getpid()
    private let agentSession = getsid(0)
    private(set) var dueAt: Milliseconds?

    /// Asks for a sweep soon; returns when it is due.
    mutating func request(now: Milliseconds) -> Milliseconds {
        let due = dueAt ?? now + OrphanSweep.delayMs
        dueAt = due
        return due
    }

    /// Sweeps if due. `running` gives the pids of the commands and shells still running.
    /// Returns when the next sweep is due: soon again after it killed something (what
    /// those leave behind becomes the agent's next).
    mutating func sweepIfDue(now: Milliseconds, running: () -> [Int32]) -> Milliseconds? {
        guard let due = dueAt, due <= now else { return dueAt }
        dueAt = nil
        return sweep(running: running()) > 0 ? request(now: now) : nil
    }

    /// Reaps the dead adopted children and kills the living ones whose user runs nothing
    /// in `running` any more; returns how many it killed.
    @discardableResult
    func sweep(running: [Int32]) -> Int {
        var children: [(pid: Int32, uid: UInt32, zombie: Bool)] = []
        forEachProcess { pid, parent, session, zombie in
            guard parent == agentPID, session != agentSession else { return }
            var status = stat()
            let uid = FileTree.withCPath(Array("/proc/\(pid)".utf8)) { stat($0, &status) } == 0 ? status.st_uid : 0
            children.append((pid, uid, zombie))
        }
        let keep = children.filter { running.contains($0.pid) }.map { $0.uid }
        var killed = 0
        for child in children where !running.contains(child.pid) {
            if child.zombie {
                var code: Int32 = 0
                _ = waitpid(child.pid, &code, CSYS_WNOHANG)
            } else if !keep.contains(child.uid) {
                Log.debug("killing process \(child.pid) (uid \(child.uid)), left behind by a command or shell that ended")
                _ = kill(child.pid, CSYS_SIGKILL)
                killed += 1
            }
        }
        return killed
    }

    /// Calls `body` with each process's pid, parent, session and whether it is a zombie.
    private func forEachProcess(_ body: (Int32, Int32, Int32, Bool) -> Void) {
        let proc = FileTree.withCPath(Array("/proc".utf8)) { csys_openat(CSYS_AT_FDCWD, $0, CSYS_O_RDONLY | CSYS_O_DIRECTORY) }
        guard proc >= 0 else { return }
        defer { FileDescriptor(proc).close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
        defer { buffer.deallocate() }
        try? FileTree.forEachEntry(proc) { name, _ in
            guard let pid = OrphanSweep.number(name[...]) else { return true }
            let fd = FileTree.withCPath(name + Array("/stat".utf8)) { csys_openat(proc, $0, CSYS_O_RDONLY) }
            guard fd >= 0 else { return true }
            let length = (try? FileDescriptor(fd).read(into: buffer)) ?? 0
            FileDescriptor(fd).close()
            if let (state, parent, session) = OrphanSweep.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<length])) {
                body(pid, parent, session, state == UInt8(ascii: "Z"))
            }
            return true
        }
    }

    /// State, parent and session from /proc/PID/stat: "pid (comm) S ppid pgrp session ...";
    /// comm may hold spaces and parentheses, so fields count from the last ')'.
    static func parse(_ text: UnsafeRawBufferPointer) -> (UInt8, Int32, Int32)? {
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let fields = text[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard fields.count > 3, let state = fields[0].first, let parent = number(fields[1]), let session = number(fields[3])
        else { return nil }
        return (state, parent, session)
    }

    private static func number<C: Collection>(_ digits: C) -> Int32? where C.Element == UInt8 {
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return digits.reduce(Int32(0)) { $0 * 10 + Int32($1 - 0x30) }
    }
}
