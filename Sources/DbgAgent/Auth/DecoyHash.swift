import CSys

/// What a login of an unknown (or locked, or expired) user hashes, so that its answer
/// takes as long as the slowest real account's and timing does not tell user names
/// apart: the most expensive scheme and cost in the shadow file, measured. The file is
/// looked at again when it changes (a user added with another scheme), on the worker
/// thread that needs the decoy; the others wait for that measurement.
final class DecoyHash: @unchecked Sendable {
    /// Schemes and costs measured at most (each costs one hash when the file changes).
    static let maxSettings = 16

    private let shadowPath: String?
    private let lock: OpaquePointer
    private var stamp = FileStamp()
    private var hash: [UInt8] = []

    init(shadowPath: String?) {
        self.shadowPath = shadowPath
        lock = csys_monitor_new()!
        _ = current()
    }

    /// Hashes `password` against the decoy; the result is thrown away.
    func waste(_ password: [UInt8]) {
        _ = PasswordHash.matches(password, current())
    }

    private func current() -> [UInt8] {
        guard let shadowPath else { return [] }
        csys_monitor_lock(lock)
        defer { csys_monitor_unlock(lock) }
        let now = FileStamp(path: shadowPath)
        if now != stamp || hash.isEmpty {
            stamp = now
            hash = DecoyHash.slowest(ShadowEntry.hashPerCost(inShadow: shadowPath, limit: DecoyHash.maxSettings))
                ?? PasswordHash.newSetting(prefix: "$y$") ?? PasswordHash.newSetting(prefix: "$6$") ?? []
        }
        return hash
    }

    /// The hash whose check takes longest (by one timed check each).
    private static func slowest(_ hashes: [[UInt8]]) -> [UInt8]? {
        var best: (hash: [UInt8], micros: UInt64)?
        let probe = Array("decoy probe".utf8)
        for hash in hashes {
            let start = csys_monotonic_us()
            guard PasswordHash.compute(probe, setting: hash) != nil else { continue }
            let took = csys_monotonic_us() - start
            if best == nil || took > best!.micros { best = (hash, took) }
        }
        return best?.hash
    }
}

/// Enough of a file's identity to notice that it was replaced or changed.
struct FileStamp: Equatable {
    var inode: UInt64 = 0
    var size: Int64 = -1
    var modifiedSeconds: Int64 = 0
    var modifiedNanoseconds: Int64 = 0

    init() {}

    init(path: String) {
        var status = stat()
        guard path.withCString({ stat($0, &status) }) == 0 else { return }
        inode = UInt64(status.st_ino)
        size = Int64(status.st_size)
        modifiedSeconds = Int64(status.st_mtim.tv_sec)
        modifiedNanoseconds = Int64(status.st_mtim.tv_nsec)
    }
}
