// Extensions of the dbg service (ops 0x0640 and up): file operations beyond the seed's
// ReadFile and WriteFile, in the same encoding.

extension Dbg {
    /// What a FileInfo or DirEntry describes.
    public enum FileType: UInt32 {
        case regular = 1
        case directory = 2
        case symlink = 3
        case characterDevice = 4
        case blockDevice = 5
        case fifo = 6
        case socket = 7
        case unknown = 0
    }

    /// Stat: the path itself (a symlink is reported, not followed).
    public struct PathRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes

        public init(token: WireBytes, path: WireBytes) {
            self.token = token
            self.path = path
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
        }
    }

    public struct FileInfo: WireCodable, Equatable {
        /// A FileType raw value.
        public var type: UInt32
        /// Permission bits, with set-id and sticky bits (st_mode & 07777).
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var size: UInt64
        /// Seconds since 1970-01-01 UTC.
        public var mtime: Int64

        public init(type: UInt32, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64, mtime: Int64) {
            self.type = type
            self.mode = mode
            self.uid = uid
            self.gid = gid
            self.size = size
            self.mtime = mtime
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(type: try r.read("Type"), mode: try r.read("Mode"), uid: try r.read("UID"), gid: try r.read("GID"),
                 size: try r.read("Size"), mtime: try r.read("MTime"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(type)
            try w.write(mode)
            try w.write(uid)
            try w.write(gid)
            try w.write(size)
            try w.write(mtime)
        }
    }

    /// ListDir: a page of entries starting at `Cookie` (0 for the first page).
    public struct ListDirRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        public var cookie: UInt64

        public init(token: WireBytes, path: WireBytes, cookie: UInt64) {
            self.token = token
            self.path = path
            self.cookie = cookie
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), cookie: try r.read("Cookie"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(cookie)
        }
    }

    public struct DirEntry: WireCodable, Equatable {
        public var name: WireBytes
        public var type: UInt32
        public var mode: UInt32
        public var size: UInt64
        public var mtime: Int64

        public init(name: WireBytes, type: UInt32, mode: UInt32, size: UInt64, mtime: Int64) {
            self.name = name
            self.type = type
            self.mode = mode
            self.size = size
            self.mtime = mtime
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(name: try r.read("Name"), type: try r.read("Type"), mode: try r.read("Mode"), size: try r.read("Size"),
                 mtime: try r.read("MTime"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(name)
            try w.write(type)
            try w.write(mode)
            try w.write(size)
            try w.write(mtime)
        }
    }

    /// Entries (u32 count, then each DirEntry), the cookie of the next page, and whether
    /// this page is the last.
    public struct DirPage: WireCodable, Equatable {
        public var entries: [DirEntry]
        public var nextCookie: UInt64
        public var done: Bool

        public init(entries: [DirEntry], nextCookie: UInt64, done: Bool) {
            self.entries = entries
            self.nextCookie = nextCookie
            self.done = done
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            let count = Int(try r.read("Entries", as: UInt32.self))
            // Each entry is at least 32 bytes: a forged count cannot reserve memory.
            guard count <= r.remaining / 32 else { throw .truncated(field: "Entries", missing: count * 32 - r.remaining) }
            var entries: [DirEntry] = []
            entries.reserveCapacity(count)
            for _ in 0..<count { entries.append(try DirEntry.decode(from: &r)) }
            return Self(entries: entries, nextCookie: try r.read("NextCookie"), done: try r.read("Done"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(UInt32(entries.count))
            for entry in entries { try entry.encode(to: &w) }
            try w.write(nextCookie)
            try w.write(done)
        }
    }

    public struct MkdirRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        /// 0 means 0755; applied exactly (not masked by a umask).
        public var mode: UInt32
        /// Create missing parents, and succeed if the directory exists (mkdir -p).
        public var parents: Bool

        public init(token: WireBytes, path: WireBytes, mode: UInt32, parents: Bool) {
            self.token = token
            self.path = path
            self.mode = mode
            self.parents = parents
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), mode: try r.read("Mode"), parents: try r.read("Parents"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(mode)
            try w.write(parents)
        }
    }

    public struct RemoveRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        /// Remove a directory with everything in it (symlinks are removed, never followed).
        public var recursive: Bool

        public init(token: WireBytes, path: WireBytes, recursive: Bool) {
            self.token = token
            self.path = path
            self.recursive = recursive
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), recursive: try r.read("Recursive"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(recursive)
        }
    }

    public struct RenameRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var from: WireBytes
        public var to: WireBytes
        /// Replace an existing `To`; otherwise an existing `To` is Exists.
        public var replace: Bool

        public init(token: WireBytes, from: WireBytes, to: WireBytes, replace: Bool) {
            self.token = token
            self.from = from
            self.to = to
            self.replace = replace
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), from: try r.read("From"), to: try r.read("To"), replace: try r.read("Replace"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(from)
            try w.write(to)
            try w.write(replace)
        }
    }

    public struct HashRequest: WireCodable, Equatable {
        public var token: WireBytes
        public var path: WireBytes
        public var offset: UInt64
        /// 0 means to the end of the file.
        public var length: UInt64

        public init(token: WireBytes, path: WireBytes, offset: UInt64, length: UInt64) {
            self.token = token
            self.path = path
            self.offset = offset
            self.length = length
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(token: try r.read("Token"), path: try r.read("Path"), offset: try r.read("Offset"), length: try r.read("Length"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(token)
            try w.write(path)
            try w.write(offset)
            try w.write(length)
        }
    }

    /// SHA-256 of the bytes hashed, and how many there were (fewer than asked at the end
    /// of the file).
    public struct HashResult: WireCodable, Equatable {
        public var digest: WireBytes
        public var length: UInt64

        public init(digest: WireBytes, length: UInt64) {
            self.digest = digest
            self.length = length
        }

        public static func decode(from r: inout WireReader) throws(WireError) -> Self {
            Self(digest: try r.read("Digest"), length: try r.read("Length"))
        }

        public func encode(to w: inout WireWriter) throws(WireError) {
            try w.write(digest)
            try w.write(length)
        }
    }
}
