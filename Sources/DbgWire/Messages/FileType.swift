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
}

extension Dbg.FileType {
    /// The letter `ls -l` shows the type with ('-' for a regular file or an unknown type).
    public static func lsLetter(_ rawValue: UInt32) -> UInt8 {
        switch Dbg.FileType(rawValue: rawValue) {
        case .directory: return UInt8(ascii: "d")
        case .symlink: return UInt8(ascii: "l")
        case .characterDevice: return UInt8(ascii: "c")
        case .blockDevice: return UInt8(ascii: "b")
        case .fifo: return UInt8(ascii: "p")
        case .socket: return UInt8(ascii: "s")
        default: return UInt8(ascii: "-")
        }
    }
}
