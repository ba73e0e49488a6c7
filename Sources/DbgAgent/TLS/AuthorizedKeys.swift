import CSys
import DbgWire

/// Which client keys log a user in without a password: the fingerprints (`SHA256:...`,
/// as `dbg keygen` prints them) in `--authorized-keys DIR/USER` (default
/// /etc/dbgd/authorized_keys) and in `~USER/.config/dbgd/authorized_keys`, one per line,
/// after which anything is a comment; blank lines and `#` lines are skipped. As sshd's
/// StrictModes: a file, or a directory above it (up to the home directory, or up to / for
/// the system one), that anyone but root or the user could change is ignored, with a log
/// line. Read on an authentication worker, as root, every time: a key removed from the
/// file is refused on the next login.
struct AuthorizedKeys {
    static let userFile = "/.config/dbgd/authorized_keys"
    static let defaultDirectory = "/etc/dbgd/authorized_keys"
    static let maxFileSize = 64 << 10

    let systemDirectory: String

    /// Whether `key` (the client's P-256 point) is listed for `account`.
    func lists(_ key: [UInt8], for account: UserAccount) -> Bool {
        let fingerprint = Array(KeyCertificate.fingerprint(point: key).utf8)
        let system = systemDirectory + "/" + account.name
        // The system directory belongs to root (or to the agent's own user, when it is not root).
        if listed(fingerprint, in: system, owners: [0, geteuid()], checkingUpTo: "/") { return true }
        guard account.home.utf8.first == UInt8(ascii: "/") else { return false }
        var homeBytes = Array(account.home.utf8)
        if homeBytes.count > 1 && homeBytes.last == UInt8(ascii: "/") { homeBytes.removeLast() }
        let home = String(decoding: homeBytes, as: UTF8.self)
        return listed(fingerprint, in: home + AuthorizedKeys.userFile, owners: [0, account.uid], checkingUpTo: home)
    }

    private func listed(_ fingerprint: [UInt8], in path: String, owners: [UInt32], checkingUpTo top: String) -> Bool {
        let fd = path.withCString { csys_open($0, CSYS_O_RDONLY | CSYS_O_NOFOLLOW | CSYS_O_NONBLOCK) }
        guard fd >= 0 else {
            let error = Errno.current
            if error != .noEntry && error != Errno(CSYS_ENOTDIR) { Log.info("ignoring " + path + ": " + error.message) }
            return false
        }
        let file = FileDescriptor(fd)
        defer { file.close() }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & CSYS_S_IFMT == CSYS_S_IFREG, status.st_size <= AuthorizedKeys.maxFileSize else {
            Log.info("ignoring " + path + ": not a regular file of at most 64 KiB")
            return false
        }
        if let problem = AuthorizedKeys.unsafe(status, owners) ?? unsafeDirectory(above: path, upTo: top, owners) {
            Log.info("ignoring " + path + ": " + problem)
            return false
        }
        var found = false
        try? TextFile.forEachLine(in: file) { line in
            found = AuthorizedKeys.firstWord(of: line).elementsEqual(fingerprint)
            return !found
        }
        return found
    }

    /// Why a file or directory with this status could be changed by someone else. A
    /// sticky directory of root's (/tmp) is safe: others cannot replace what is in it (and
    /// a file they put there is not the owner's).
    private static func unsafe(_ status: stat, _ owners: [UInt32], directory: Bool = false) -> String? {
        if directory && status.st_uid == 0 && status.st_mode & CSYS_S_ISVTX != 0 { return nil }
        if !owners.contains(status.st_uid) { return "owned by uid " + String(status.st_uid) }
        if status.st_mode & 0o022 != 0 { return "writable by its group or others" }
        return nil
    }

    /// The first directory above `path`, up to `top`, that someone else could change.
    private func unsafeDirectory(above path: String, upTo top: String, _ owners: [UInt32]) -> String? {
        var directory = Array(path.utf8)
        let topBytes = Array(top.utf8)
        while let slash = directory.lastIndex(of: UInt8(ascii: "/")) {
            directory = slash == 0 ? [UInt8(ascii: "/")] : Array(directory[..<slash])
            var status = stat()
            let name = String(decoding: directory, as: UTF8.self)
            guard name.withCString({ stat($0, &status) }) == 0 else { return name + ": " + Errno.current.message }
            if let problem = AuthorizedKeys.unsafe(status, owners, directory: true) { return "its directory " + name + " is " + problem }
            if directory == topBytes || directory == [UInt8(ascii: "/")] { return nil }
        }
        return nil
    }

    /// A line's first word: blank lines and `#` lines give none.
    static func firstWord(of line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0d }
        guard let start = line.firstIndex(where: { !isSpace($0) }), line[start] != UInt8(ascii: "#") else {
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let end = line[start...].firstIndex(where: isSpace) ?? line.count
        return UnsafeRawBufferPointer(rebasing: line[start..<end])
    }
}
