import CSys

/// A user as the passwd file describes them: what SessionInfo reports and what later
/// operations run as.
struct UserAccount {
    var name: String
    var uid: UInt32
    var gid: UInt32
    var home: String
    var shell: String
    /// The primary group and every group of the group file that lists the user, as
    /// initgroups(3) would set them; filled in at login.
    var groups: [UInt32] = []

    /// The passwd entry for `name` in the file at `path`, or nil.
    static func find(_ name: [UInt8], inPasswd path: String) throws(Errno) -> UserAccount? {
        try find(inPasswd: path) { fields, _ in fields[0].elementsEqual(name) }
    }

    /// The first passwd entry with this uid in the file at `path`, or nil.
    static func find(uid: UInt32, inPasswd path: String) throws(Errno) -> UserAccount? {
        try find(inPasswd: path) { _, entryUID in entryUID == uid }
    }

    private static func find(inPasswd path: String,
                             where matches: ([UnsafeRawBufferPointer], UInt32) -> Bool) throws(Errno) -> UserAccount? {
        var found: UserAccount?
        try TextFile.forEachLine(path) { line in
            // name:password:uid:gid:gecos:home:shell
            let fields = TextFile.fields(line)
            guard fields.count == 7, let uid = TextFile.number(fields[2]), uid <= UInt32.max,
                  let gid = TextFile.number(fields[3]), gid <= UInt32.max,
                  matches(fields, UInt32(uid)) else { return true }
            let shell = fields[6].isEmpty ? "/bin/sh" : String(decoding: fields[6], as: UTF8.self)
            found = UserAccount(name: String(decoding: fields[0], as: UTF8.self), uid: UInt32(uid), gid: UInt32(gid),
                                home: String(decoding: fields[5], as: UTF8.self), shell: shell)
            return false
        }
        return found
    }
}

enum GroupFile {
    /// `primary` plus the gid of every group in the file at `path` whose member list
    /// names `user`. A missing file means no supplementary groups.
    static func groups(of user: [UInt8], primary: UInt32, path: String) throws(Errno) -> [UInt32] {
        var groups = [primary]
        do throws(Errno) {
            try TextFile.forEachLine(path) { line in
                // name:password:gid:member,member,...
                let fields = TextFile.fields(line)
                guard fields.count == 4, let gid = TextFile.number(fields[2]), gid <= UInt32.max,
                      !groups.contains(UInt32(gid)) else { return true }
                let members = fields[3].split(separator: UInt8(ascii: ","))
                if members.contains(where: { $0.elementsEqual(user) }) { groups.append(UInt32(gid)) }
                return true
            }
        } catch {
            if error != .noEntry { throw error }
        }
        return groups
    }
}
