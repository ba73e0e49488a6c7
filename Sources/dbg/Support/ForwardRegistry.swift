import DbgClient
import Glibc

/// The forwards this user is running (`dbg forward` and `dbg reverse` stay in the
/// foreground), so that `--list` can show them and `--remove` end one: a file per running
/// dbg in `$XDG_RUNTIME_DIR/dbg/forwards/` (else `/tmp/dbg-UID/forwards/`), named by its
/// pid, holding one line: KIND TARGET FROM TO. A file whose dbg has ended is removed when
/// it is read.
enum ForwardRegistry {
    struct Entry {
        let pid: pid_t
        /// "forward" or "reverse".
        let kind: String
        let target: String
        /// forward: local, remote; reverse: remote, local.
        let from: String
        let to: String

        var line: String { target + " " + from + " " + to }
    }

    static var directory: String {
        (Environment.nonEmpty("XDG_RUNTIME_DIR").map { $0 + "/dbg" } ?? "/tmp/dbg-" + String(getuid())) + "/forwards"
    }

    /// Records this dbg's forward until it exits (not at all when the folder cannot be
    /// trusted: the forward runs, but --list will not show it).
    static func register(kind: String, target: String, from: String, to: String) {
        let base = String(directory.dropLast("/forwards".count))
        for folder in [base, directory] where mkdir(folder, 0o700) != 0 && errno != EEXIST { return }
        guard isTrusted else { return }
        let path = directory + "/" + String(getpid())
        let text = Array((kind + " " + target + " " + from + " " + to + "\n").utf8)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        ExitCleanup.unlinkAtExit(path)
    }

    /// Whether the folders are this user's alone: a folder another user could write to
    /// could name any process for --remove to end.
    private static var isTrusted: Bool {
        [String(directory.dropLast("/forwards".count)), directory].allSatisfy { folder in
            var info = stat()
            return lstat(folder, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR && info.st_uid == getuid()
                && info.st_mode & 0o077 == 0
        }
    }

    /// The forwards of `kind` still running, oldest first.
    static func entries(_ kind: String) -> [Entry] {
        guard isTrusted, let folder = opendir(directory) else { return [] }
        defer { closedir(folder) }
        var found: [Entry] = []
        while let item = readdir(folder) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name) else { continue }
            let path = directory + "/" + name
            guard kill(pid, 0) == 0 || errno == EPERM else {
                unlink(path)  // its dbg has ended without removing it (SIGKILL)
                continue
            }
            let words = readLine(path).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
            guard words.count == 4, words[0] == kind else { continue }
            found.append(Entry(pid: pid, kind: words[0], target: words[1], from: words[2], to: words[3]))
        }
        return found.sorted { $0.pid < $1.pid }
    }

    private static func readLine(_ path: String) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : ""
    }

    /// Ends the forwards of `kind` whose FROM is `from` (all of them when nil); returns them.
    static func remove(_ kind: String, from: String?) -> [Entry] {
        let matching = entries(kind).filter { from == nil || $0.from == from }
        for entry in matching { kill(entry.pid, SIGTERM) }
        return matching
    }
}

/// Files removed when dbg exits, also by Ctrl-C, SIGTERM or a hang-up (which then end dbg
/// with 128 + the signal, as the default action would).
enum ExitCleanup {
    nonisolated(unsafe) private static var paths: [String] = []
    private static let lock = Lock()

    static func unlinkAtExit(_ path: String) {
        let first = lock.withLock { () -> Bool in
            paths.append(path)
            return paths.count == 1
        }
        guard first else { return }
        atexit { ExitCleanup.run() }
        for number in [SIGINT, SIGTERM, SIGHUP] {
            SignalWatcher.on(number) { exit(128 + number) }
        }
    }

    private static func run() {
        for path in lock.withLock({ paths }) { unlink(path) }
    }
}
