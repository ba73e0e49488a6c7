import CSys
import DbgWire

/// A Hash, Rename, recursive Remove or distro Status request while its worker runs, and
/// its result until delivered.
struct PendingFileJob {
    var reply: ReplyAddress
    /// Raised when its connection closes: a long hash stops at its next chunk.
    let cancel: CancelFlag
    /// The path an error names.
    var path: [UInt8]
    var result: Result<FileJobOutcome, Errno>?
}

/// What a file job does to its path.
enum FileWork {
    /// SHA-256 of `length` bytes from `offset` (length 0: to the end).
    case hash(offset: UInt64, length: UInt64)
    /// fsync the file, rename it to `to`, then fsync the directory `to` is in.
    case syncAndRename(to: [UInt8], replace: Bool)
    #if !DBG_NO_DISTRO
    /// The bytes a tree occupies (distro Status).
    case diskUsage
    #endif
    /// Remove, recursive.
    case removeTree
}

enum FileJobOutcome {
    case digest([UInt8], UInt64)
    /// Renamed, or removed.
    case done
    case diskUsage(Int64)
}

/// What a worker thread needs to work on a file as the user.
struct FileJob {
    static let readSize = 256 << 10

    let slot: Int
    let path: [UInt8]
    let identity: UserAccount?
    let work: FileWork
    let cancel: CancelFlag
    var result: Result<FileJobOutcome, Errno> = .failure(Errno(0))

    /// Runs on a worker thread (the identity switch is per thread).
    mutating func run() {
        let (path, work, cancel, identity) = (self.path, self.work, self.cancel, self.identity)
        result = Result { () throws(Errno) -> FileJobOutcome in
            try UserFiles.run(as: identity) { () throws(Errno) -> FileJobOutcome in
                switch work {
                case .hash(let offset, let length):
                    return try FileJob.hash(path, offset: offset, length: length, cancel: cancel)
                case .syncAndRename(let to, let replace):
                    // What the user may move but not open (a file of mode 0200, a directory of
                    // mode 0300) is renamed unsynced, as rename(2) alone would.
                    try FileJob.allowingDenied { () throws(Errno) in try FileTree.sync(path) }
                    try FileTree.rename(path, to, replace: replace)
                    try FileJob.allowingDenied { () throws(Errno) in try FileTree.syncDirectory(of: to) }
                    return .done
                case .removeTree:
                    try FileTree.remove(path, recursive: true)
                    return .done
                #if !DBG_NO_DISTRO
                case .diskUsage:
                    return .diskUsage(try DistroRoot.diskUsage(path))
                #endif
                }
            }
        }
    }

    private static func allowingDenied(_ body: () throws(Errno) -> Void) throws(Errno) {
        do throws(Errno) { try body() } catch where error == .accessDenied {}
    }

    /// Stops when `cancel` is raised: a sparse file can be exabytes long, and nobody may
    /// hold a file worker after leaving.
    private static func hash(_ path: [UInt8], offset: UInt64, length: UInt64,
                             cancel: CancelFlag) throws(Errno) -> FileJobOutcome {
        let file = try UserFiles.openAsCurrentUser(path, for: .hash, mode: 0)
        defer { file.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: FileJob.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var done: UInt64 = 0
        while length == 0 || done < length {
            if cancel.reason != nil { throw Errno(CSYS_ECANCELED) }
            let want = length == 0 ? buffer.count : Int(min(UInt64(buffer.count), length - done))
            let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: offset + done)
            if got == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            done += UInt64(got)
        }
        return .digest(hasher.finish(), done)
    }
}
