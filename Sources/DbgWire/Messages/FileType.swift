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
