
/// Named boards: `dbg -b NAME ...` takes the target and login of an entry in
/// `$DBG_CONFIG`, else `$XDG_CONFIG_HOME/dbg/config`, else `~/.config/dbg/config`:
///
///     # the lab's boards
///     [lab-3]
///     host = 10.0.0.23
///     port = 5038
///     user = tester
///     password-file = ~/.config/dbg/lab-3.password
///
///     [lab-7]
///     host = 10.0.0.27
///     tls = yes
///     fingerprint = SHA256:...
///
///     [bench-pi]
///     host = serial:/dev/ttyACM0,3000000
///     connect-timeout = 5
///     wait = 30
///
/// Keys: host (any -H target), port (when host names none), user, password-file,
/// connect-timeout, wait, tls (yes or no), fingerprint (the board key to trust). An option on the command line beats the entry, the entry beats
/// the environment. A line the file cannot mean (an unknown key, a key outside a
/// section, a bad number) is an error naming the file and line, never ignored.
struct BoardConfig {
    struct Board: Equatable {
        var name: String
        var host: String?
        var port: Int?
        var user: String?
        var passwordFile: String?
        var connectTimeout: Int?
        var wait: Int?
        /// TCP with TLS (the target may also say tls://).
        var tls: Bool?
        /// The board key to trust (as --fingerprint).
        var fingerprint: String?

        /// host with the port added when it names none.
        var target: String? {
            guard let host else { return nil }
            guard let port, !host.hasPrefix("unix:"), !host.hasPrefix("serial:") else { return host }
            let namesPort = host.hasPrefix("[") ? host.split(separator: "]").last?.first == ":" : host.contains(":")
            return namesPort ? host : "\(host):\(port)"
        }
    }

    let path: String
    let boards: [Board]

    static var path: String {
        if let path = Environment.nonEmpty("DBG_CONFIG") { return path }
        return Environment.configDirectory + "/config"
    }

    /// The file, for a command: one it cannot read or mean is bad usage (one line, exit 64).
    static func loadForCommand() throws -> BoardConfig {
        do {
            return try load()
        } catch let failure as LocalFailure {
            Terminal.error("dbg: \(failure.message)")
            throw ExitCode(ExitStatus.usage)
        }
    }

    /// The file at `path`; no file means no boards.
    static func load(_ path: String = BoardConfig.path) throws -> BoardConfig {
        guard LocalPath(path).exists else { return BoardConfig(path: path, boards: []) }
        guard let text = LocalPath(path).text() else {
            throw LocalFailure("\(path): cannot be read")
        }
        return BoardConfig(path: path, boards: try parse(text, path: path))
    }

    static func parse(_ text: String, path: String) throws -> [Board] {
        var boards: [Board] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmed
            let place = "\(path):\(index + 1)"
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else { throw LocalFailure("\(place): expected [NAME]") }
                let name = String(line.dropFirst().dropLast()).trimmed
                guard !name.isEmpty, !name.contains(where: { $0.isWhitespace }) else {
                    throw LocalFailure("\(place): a board's name is one word")
                }
                guard !boards.contains(where: { $0.name == name }) else { throw LocalFailure("\(place): board \(name) is named twice") }
                boards.append(Board(name: name))
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { throw LocalFailure("\(place): expected KEY = VALUE or [NAME]") }
            let key = line[..<equals].trimmed
            let value = line[line.index(after: equals)...].trimmed
            guard !boards.isEmpty else { throw LocalFailure("\(place): \(key) comes before any [NAME]") }
            guard !value.isEmpty else { throw LocalFailure("\(place): \(key) has no value") }
            func number(_ range: ClosedRange<Int>) throws -> Int {
                guard let n = Int(value), range.contains(n) else {
                    throw LocalFailure("\(place): \(key) '\(value)': expected a number from \(range.lowerBound) to \(range.upperBound)")
                }
                return n
            }
            switch key {
            case "host": boards[boards.count - 1].host = value
            case "port": boards[boards.count - 1].port = try number(1...65535)
            case "user": boards[boards.count - 1].user = value
            case "password-file": boards[boards.count - 1].passwordFile = expandingHome(value)
            case "connect-timeout": boards[boards.count - 1].connectTimeout = try number(1...86_400)
            case "wait": boards[boards.count - 1].wait = try number(0...86_400)
            case "tls":
                guard value == "yes" || value == "no" else { throw LocalFailure("\(place): tls '\(value)': expected yes or no") }
                boards[boards.count - 1].tls = value == "yes"
            case "fingerprint":
                guard value.hasPrefix("SHA256:") else { throw LocalFailure("\(place): fingerprint '\(value)': expected SHA256:...") }
                boards[boards.count - 1].fingerprint = value
            default:
                throw LocalFailure("\(place): unknown key '\(key)' (host, port, user, password-file, connect-timeout, wait, "
                    + "tls, fingerprint)")
            }
        }
        return boards
    }

    private static func expandingHome(_ path: String) -> String {
        path.hasPrefix("~/") ? Environment.home + path.dropFirst(1) : path
    }
}
