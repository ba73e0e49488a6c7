import CSys
import DbgWire

/// The block device a flash writes to, opened after the checks that keep a flash from
/// destroying the running system: it must be a block device (MTD is refused by name),
/// not mounted, not the agent's root, not a swap area (`force` skips those three), and
/// at least as large as the image (never skipped).
struct FlashTarget {
    let path: String
    /// Buffered; writes that are not sector-aligned and the final flush go here.
    let buffered: FileDescriptor
    /// O_DIRECT, when the device takes it: aligned writes and the read-back.
    let direct: FileDescriptor?
    let size: UInt64
    let sectorSize: Int

    /// The character devices of raw flash (drivers/mtd): refused by name.
    private static let mtdMajor: UInt32 = 90

    static func open(_ path: String, imageSize: UInt64, force: Bool) throws(ServiceError) -> FlashTarget {
        var info = stat()
        guard stat(path, &info) == 0 else { throw ServiceError(.current, path: Array(path.utf8)) }
        let type = info.st_mode & CSYS_S_IFMT
        if type == CSYS_S_IFCHR && csys_major(UInt64(info.st_rdev)) == mtdMajor {
            throw ServiceError(.unsupported, "\(path) is an MTD device (raw NOR/NAND): not supported yet; flash a block device")
        }
        guard type == CSYS_S_IFBLK else { throw ServiceError(.badRequest, "\(path) is not a block device") }
        if !force { try checkNotInUse(path, device: UInt64(info.st_rdev)) }

        // O_EXCL on a block device fails while the kernel holds it (a mount, RAID, LVM,
        // another flash): the last word after the checks above, which name the reason.
        let exclusive = force ? 0 : CSYS_O_EXCL
        let fd = path.withCString { csys_open($0, CSYS_O_RDWR | CSYS_O_CLOEXEC | exclusive) }
        guard fd >= 0 else {
            let error = Errno.current
            if error.code == CSYS_EBUSY {
                throw ServiceError(.busy, errno: error.code, "\(path) is in use by the kernel (mounted, part of RAID or LVM, or being flashed)")
            }
            throw ServiceError(error, path: Array(path.utf8))
        }
        let buffered = FileDescriptor(fd)
        var size: UInt64 = 0
        var sector: UInt32 = 0
        guard csys_block_size(fd, &size) == 0, csys_block_sector_size(fd, &sector) == 0, sector > 0 else {
            let error = Errno.current
            buffered.close()
            throw .io("\(path): cannot read its size", error)
        }
        guard imageSize <= size else {
            buffered.close()
            throw ServiceError(.tooLarge, "the image (\(imageSize) bytes) is larger than \(path) (\(size) bytes)")
        }
        let directFD = path.withCString { csys_open($0, CSYS_O_RDWR | CSYS_O_CLOEXEC | CSYS_O_DIRECT) }
        return FlashTarget(path: path, buffered: buffered, direct: directFD >= 0 ? FileDescriptor(directFD) : nil,
                           size: size, sectorSize: Int(sector))
    }

    func close() {
        buffered.close()
        direct?.close()
    }

    /// Mounted (itself or one of its partitions), the agent's root, or swap: each named.
    private static func checkNotInUse(_ path: String, device: UInt64) throws(ServiceError) {
        let disk = BlockDevice(device)
        var root = stat()
        if stat("/", &root) == 0, disk.contains(BlockDevice(UInt64(root.st_dev))) {
            throw ServiceError(.denied, "\(path) holds the agent's root file system (--force to flash it anyway)")
        }
        var mountedAt: [UInt8]?
        try? TextFile.forEachLine("/proc/self/mountinfo") { line in
            // id parent major:minor root mount-point options - type source ...
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            guard fields.count > 4 else { return true }
            var mounted = BlockDevice(numbers: Array(fields[2])).map(disk.contains) ?? false
            if !mounted, let dash = fields.firstIndex(where: { $0.count == 1 && $0.first == UInt8(ascii: "-") }), dash + 2 < fields.count {
                mounted = BlockDevice(path: MountInfo.unescape(Array(fields[dash + 2]))).map(disk.contains) ?? false
            }
            if mounted { mountedAt = MountInfo.unescape(Array(fields[4])) }
            return !mounted
        }
        if let mountedAt {
            throw ServiceError(.denied, "\(path) is mounted on \(String(decoding: mountedAt, as: UTF8.self)) "
                + "(it or one of its partitions; unmount it, or --force)")
        }
        var swap = false
        try? TextFile.forEachLine("/proc/swaps") { line in
            guard let name = line.split(separator: UInt8(ascii: " ")).first, name.first == UInt8(ascii: "/") else { return true }
            swap = BlockDevice(path: MountInfo.unescape(Array(name))).map(disk.contains) ?? false
            return !swap
        }
        if swap { throw ServiceError(.denied, "\(path) is a swap area in use (swapoff it, or --force)") }
    }
}

/// A block device by number, and whether another is it or one of its partitions
/// (sysfs puts a partition's directory inside its disk's).
private struct BlockDevice {
    let major: UInt32
    let minor: UInt32

    init(_ device: UInt64) {
        major = csys_major(device)
        minor = csys_minor(device)
    }

    /// "major:minor", as mountinfo writes it.
    init?(numbers: [UInt8]) {
        guard let colon = numbers.firstIndex(of: UInt8(ascii: ":")),
              let major = Self.number(numbers[..<colon]),
              let minor = Self.number(numbers[(colon + 1)...]), major <= UInt32.max, minor <= UInt32.max else { return nil }
        self.major = UInt32(major)
        self.minor = UInt32(minor)
    }

    /// The block device a path names; nil for anything else.
    init?(path: [UInt8]) {
        var info = stat()
        guard FileTree.withCPath(path, { stat($0, &info) }) == 0, info.st_mode & CSYS_S_IFMT == CSYS_S_IFBLK else { return nil }
        self.init(UInt64(info.st_rdev))
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> UInt64? {
        Array(digits).withUnsafeBytes { TextFile.number($0) }
    }

    func contains(_ other: BlockDevice) -> Bool {
        if other.major == major && other.minor == minor { return true }
        guard let mine = sysfsPath, let theirs = other.sysfsPath else { return false }
        return theirs.starts(with: mine + [UInt8(ascii: "/")])
    }

    private var sysfsPath: [UInt8]? {
        guard let resolved = realpath("/sys/dev/block/\(major):\(minor)", nil) else { return nil }
        defer { free(resolved) }
        return Array(String(cString: resolved).utf8)
    }
}
