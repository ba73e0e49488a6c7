import DbgClient
import DbgPlatform
import DbgWire
import Glibc

/// `dbg keygen`: the client's key for key login over TLS.
struct Keygen: Command {
    static let spec = CommandSpec(
        name: "keygen", abstract: "Make this user's client key for logging in without a password over TLS.",
        discussion: """
            The key is a P-256 secret in $XDG_CONFIG_HOME/dbg/client.key (else ~/.config/dbg/client.key; \
            DBG_KEY names another), mode 0600. Its fingerprint goes in the board's \
            ~USER/.config/dbgd/authorized_keys (dbg copy-id puts it there) or /etc/dbgd/authorized_keys/USER; \
            then dbg logs in as USER over TLS without asking for the password. An existing key is never \
            replaced: --show prints its fingerprint.
            """,
        options: [.flag("show", nil, "Print the existing key's fingerprint instead of making one.")])

    let show: Bool

    init(_ arguments: ParsedArguments) throws { show = arguments.flag("show") }

    func run() throws {
        let path = ClientKeyFile.path
        if show {
            guard let key = try attempt("keygen", { try ClientKeyFile.load(path) }) else {
                Terminal.error("dbg: keygen: no key at \(path) (dbg keygen makes one)")
                throw ExitCode(ExitStatus.failure)
            }
            print(key.fingerprint)
            return
        }
        let key = try attempt("keygen") { try ClientKeyFile.create(path) }
        print("made \(path); its fingerprint is")
        print(key.fingerprint)
        print("dbg copy-id -H tls://BOARD -u USER installs it for USER on a board.")
    }
}

/// `dbg copy-id`: installs the client key in a user's authorized_keys on the board.
struct CopyID: Command {
    static let spec = CommandSpec(
        name: "copy-id", abstract: "Install this user's client key for USER on the board (after a password login).",
        discussion: """
            Appends the fingerprint of the client key (dbg keygen) to ~USER/.config/dbgd/authorized_keys \
            on the board, creating the directory (0700) and the file (0600) as USER; a key already listed \
            is left as it is. USER and the board come from -u and -H, or from [USER@]TARGET.
            """,
        arguments: [.optional("[USER@]TARGET", "The user and the board (default: -u and -H).")])

    var agent: AgentOptions

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        if let given = arguments.arguments.first {
            if let at = given.lastIndex(of: "@"), !given.hasPrefix("unix:") {
                agent.user = String(given[..<at])
                agent.host = String(given[given.index(after: at)...])
            } else {
                agent.host = given
            }
        }
    }

    func run() throws {
        guard let key = try attempt("copy-id", { try ClientKeyFile.load() }) else {
            Terminal.error("dbg: copy-id: no client key at \(ClientKeyFile.path): run dbg keygen first")
            throw ExitCode(ExitStatus.failure)
        }
        let login = try agent.login()
        let directory = login.session.home.string + "/.config/dbgd"
        let path = directory + "/authorized_keys"
        let files = login.files
        try attempt("copy-id: \(directory)") {
            do throws(ClientError) {
                try files.makeDirectory(directory, mode: 0o700, parents: true)
            } catch {
                guard case .remote(let code, _, _) = error, code == .exists else { throw error }
            }
        }
        var existing: [UInt8] = []
        try attempt("copy-id: reading \(path)") {
            do throws(ClientError) {
                try files.read(path) { (chunk: UnsafeRawBufferPointer) throws(ClientError) in existing += chunk }
            } catch {
                guard case .remote(let code, _, _) = error, code == .notFound else { throw error }  // none yet
            }
        }
        let text = String(decoding: existing, as: UTF8.self)
        let listed = text.split(separator: "\n").contains { $0.split(separator: " ").first.map(String.init) == key.fingerprint }
        if listed {
            print("\(key.fingerprint) is already in \(login.session.username.string)'s \(path)")
            return
        }
        var updated = existing
        if let last = updated.last, last != UInt8(ascii: "\n") { updated.append(UInt8(ascii: "\n")) }
        updated += Array((key.fingerprint + " " + Self.comment + "\n").utf8)
        var offset = 0
        try attempt("copy-id: writing \(path)") {
            try files.write(path, truncate: true, mode: 0o600) { (buffer: UnsafeMutableRawBufferPointer) throws(ClientError) in
                let count = min(buffer.count, updated.count - offset)
                updated.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
                offset += count
                return count
            }
        }
        print("installed \(key.fingerprint) for \(login.session.username.string) in \(path); "
            + "dbg logs in there without a password over TLS")
    }

    /// Who put the line there: USER@HOST of this side.
    private static var comment: String {
        var name = [UInt8](repeating: 0, count: 256)
        _ = name.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }
        return (Environment["USER"] ?? "dbg") + "@" + String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
    }
}
