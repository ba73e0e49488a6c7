import DbgClient
import Glibc

// What dbg needs of this machine, from libc: the environment, local files, the time of
// day, number formatting. (Foundation would do it all and cost 70 MB and 7 ms a call.)

enum Environment {
    static subscript(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// Unset and empty are the same.
    static func nonEmpty(_ name: String) -> String? { self[name].flatMap { $0.isEmpty ? nil : $0 } }

    /// dbg's own files: $XDG_CONFIG_HOME/dbg, else ~/.config/dbg.
    static var configDirectory: String { (nonEmpty("XDG_CONFIG_HOME") ?? home + "/.config") + "/dbg" }

    static var home: String {
        if let home = nonEmpty("HOME") { return home }
        guard let entry = getpwuid(getuid()), let directory = entry.pointee.pw_dir else { return "/" }
        return String(cString: directory)
    }
}

/// A file or directory here, by path.
struct LocalPath {
    let path: String

    init(_ path: String) { self.path = path }

    private var info: stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    var exists: Bool { info != nil }
    var isDirectory: Bool { info.map { $0.st_mode & S_IFMT == S_IFDIR } ?? false }
    var size: UInt64? { info.map { UInt64($0.st_size) } }
    var permissions: UInt32? { info.map { UInt32($0.st_mode & 0o7777) } }

    /// The last component: "build" for "src/build/".
    var name: String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    /// The names in a directory, "." and ".." left out, sorted.
    func entries() throws(LocalFailure) -> [String] {
        guard let directory = opendir(path) else { throw LocalFailure("cannot list " + path + ": " + describeErrno()) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// mkdir -p.
    func makeDirectories() throws(LocalFailure) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o777) != 0 && errno != EEXIST {
                throw LocalFailure("cannot create " + prefix + ": " + describeErrno())
            }
            prefix += "/"
        }
        guard isDirectory else { throw LocalFailure(path + " is not a directory") }
    }

    /// Makes the folder `path` is in (mode 0700, for dbg's own files) when it is missing.
    func makePrivateParent() throws(LocalFailure) {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = LocalPath(String(path[..<slash]))
        guard !directory.exists else { return }
        try directory.makeDirectories()
        _ = chmod(directory.path, 0o700)
    }

    /// The whole file as text; nil when it cannot be read.
    func text() -> String? { bytes().map { String(decoding: $0, as: UTF8.self) } }

    /// The whole file; nil when it cannot be read.
    func bytes() -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return readToEnd(fd)
    }
}

/// Everything `fd` gives until its end; nil on a read error.
func readToEnd(_ fd: Int32) -> [UInt8]? {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return bytes }
        bytes += buffer[0..<count]
    }
}

func describeErrno() -> String { String(cString: strerror(errno)) }

/// Bytes to stdout or stderr as they are; a reader that went away is not dbg's failure.
func writeOut(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { _ = try? writeAll(fd, $0, to: fd == 1 ? "stdout" : "stderr") }
}

enum Format {
    /// `value` with `digits` decimals: "12.345".
    static func fixed(_ value: Double, _ digits: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = buffer.withUnsafeMutableBufferPointer { out in
            withVaList([digits, value]) { vsnprintf(out.baseAddress, out.count, "%.*f", $0) }
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return out
    }

    /// Local time as "2026-11-30 19:18".
    static func localTime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard localtime_r(&time, &parts) != nil else { return String(seconds) }
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M", &parts)
        return count > 0 ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : String(seconds)
    }
}

extension StringProtocol {
    /// Without spaces and tabs at either end.
    var trimmed: String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        return String(drop(while: isBlank).reversed().drop(while: isBlank).reversed())
    }
}

extension String {
    func leftPadded(_ width: Int, with pad: Character = " ") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
    func rightPadded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
