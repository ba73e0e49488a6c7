import CSys
import Foundation

/// A user for a test passwd/shadow pair.
struct TestUser {
    var name: String
    var uid: UInt32
    var password: String
    /// A libxcrypt prefix ("$y$", "$6$", ...) to hash `password` with.
    var scheme = "$6$"
    /// The scheme's cost (rounds); 0 for its default.
    var rounds: UInt = 0
    /// Replaces the hash field as written (locked "!...", "*", empty).
    var shadowField: String?
    /// Shadow's expire field (days since 1970).
    var expireDay: UInt64?
    var shell = "/bin/sh"
    var homeDirectory: String?

    var home: String { homeDirectory ?? "/home/\(name)" }
}

/// A group for the test group file.
struct TestGroup {
    var name: String
    var gid: UInt32
    var members: [String]
}

/// passwd and shadow files in a temporary directory, hashed with the system's libcrypt
/// (not by the agent's code), for `dbgd --passwd ... --shadow ...`.
struct TestAccounts {
    let directory: URL
    var passwd: String { directory.appendingPathComponent("passwd").path }
    var shadow: String { directory.appendingPathComponent("shadow").path }
    var group: String { directory.appendingPathComponent("group").path }

    init(_ users: [TestUser], groups: [TestGroup] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-accounts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var passwdText = "# test accounts\nmalformed line without fields\n"
        var shadowText = ""
        for user in users {
            passwdText += "\(user.name):x:\(user.uid):\(user.uid + 100):Test User:\(user.home):\(user.shell)\n"
            let hash = try user.shadowField ?? systemHash(user.password, scheme: user.scheme, rounds: user.rounds)
            shadowText += "\(user.name):\(hash):19000:0:99999:7::\(user.expireDay.map(String.init) ?? ""):\n"
        }
        try passwdText.write(toFile: directory.appendingPathComponent("passwd").path, atomically: true, encoding: .utf8)
        try shadowText.write(toFile: directory.appendingPathComponent("shadow").path, atomically: true, encoding: .utf8)
        let groupText = groups.map { "\($0.name):x:\($0.gid):\($0.members.joined(separator: ","))\n" }.joined()
        try groupText.write(toFile: group, atomically: true, encoding: .utf8)
    }

    /// Flags that make dbgd check these accounts with crypt(3).
    var shadowFlags: [String] { ["--auth", "shadow", "--passwd", passwd, "--shadow", shadow, "--group", group] }
}

/// crypt(password, fresh salt for `scheme` with `rounds`, 0 for its default) by the
/// system's libxcrypt.
func systemHash(_ password: String, scheme: String, rounds: UInt = 0) throws -> String {
    var setting = [CChar](repeating: 0, count: 128)
    guard crypt_gensalt_rn(scheme, rounds, nil, 0, &setting, Int32(setting.count)) != nil else {
        throw AgentProcessError("libcrypt cannot make a \(scheme) salt")
    }
    let work = UnsafeMutableRawPointer.allocate(byteCount: Int(CSYS_CRYPT_DATA_SIZE), alignment: 16)
    defer { work.deallocate() }
    memset(work, 0, Int(CSYS_CRYPT_DATA_SIZE))
    guard let hash = crypt_rn(password, setting, work, CSYS_CRYPT_DATA_SIZE), hash.pointee != UInt8(ascii: "*") else {
        throw AgentProcessError("libcrypt cannot hash with \(scheme)")
    }
    return String(cString: hash)
}
