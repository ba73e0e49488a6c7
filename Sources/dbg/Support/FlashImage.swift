import CSys
import DbgClient
import Glibc

/// An image file to flash: its format, told by its first bytes (not its name), and a
/// reader of its decoded bytes: a raw image is read as it is, a compressed one through
/// the host's own decoder (zstd, xz or gzip -dc), whose output is read from a pipe.
struct FlashImage {
    enum Format: String {
        case raw, gzip, xz, zstd

        var decoder: String? { self == .raw ? nil : rawValue }
    }

    let path: String
    let format: Format
    /// The file's own size (compressed, for a compressed image).
    let fileSize: UInt64

    init(_ path: String) throws(LocalFailure) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LocalFailure("\(path): \(describeErrno())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK else {
            throw LocalFailure("\(path): not a regular file")
        }
        fileSize = UInt64(info.st_size)
        var head = [UInt8](repeating: 0, count: 6)
        let got = read(fd, &head, 6)
        if got >= 2 && head[0] == 0x1f && head[1] == 0x8b {
            format = .gzip
        } else if got == 6 && head == [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] {
            format = .xz
        } else if got >= 4 && head[0..<4] == [0x28, 0xb5, 0x2f, 0xfd] {
            format = .zstd
        } else {
            format = .raw
        }
    }

    /// The file's bytes as they are.
    func file() throws(LocalFailure) -> ImageReader { try ImageReader(path: path, decoder: nil) }

    /// The image's bytes, decoded on this host when compressed.
    func decoded() throws(LocalFailure) -> ImageReader { try ImageReader(path: path, decoder: format.decoder) }
}

/// Sequential bytes of an image: a file, or a decoder's output through a pipe.
final class ImageReader {
    private let fd: Int32
    private let decoder: String?
    /// The decoder's process until it is reaped.
    private var child: pid_t?
    private(set) var position: UInt64 = 0

    init(path: String, decoder: String?) throws(LocalFailure) {
        guard let decoder else {
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw LocalFailure("\(path): \(describeErrno())") }
            self.decoder = nil
            return
        }
        var pipeEnds: [Int32] = [-1, -1]
        guard csys_pipe(&pipeEnds) == 0 else { throw LocalFailure("pipe: \(describeErrno())") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        let argv = [decoder, "-dc", "--", path]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for arg in cArgs { free(arg) } }
        var pid: pid_t = 0
        let status = posix_spawnp(&pid, decoder, &actions, nil, &cArgs, environ)
        close(pipeEnds[1])
        guard status == 0 else {
            close(pipeEnds[0])
            throw LocalFailure("cannot run \(decoder) to decode \(path) (\(String(cString: strerror(status)))): install it, or flash a raw image")
        }
        fd = pipeEnds[0]
        self.decoder = decoder
        child = pid
    }

    deinit {
        close(fd)
        if let child {
            kill(child, SIGTERM)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
    }

    /// Fills `buffer` (less only at the end); 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(LocalFailure) -> Int {
        var filled = 0
        while filled < buffer.count {
            let got = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw LocalFailure("reading the image: \(describeErrno())") }
            if got == 0 { break }
            filled += got
        }
        position += UInt64(filled)
        if filled < buffer.count { try checkDecoder() }
        return filled
    }

    /// Moves on to `offset` (a file seeks; a pipe is read and dropped).
    func skip(to offset: UInt64, scratch: UnsafeMutableRawBufferPointer) throws(LocalFailure) {
        guard offset > position else { return }
        if decoder == nil {
            guard lseek(fd, off_t(offset), SEEK_SET) >= 0 else { throw LocalFailure("seeking in the image: \(describeErrno())") }
            position = offset
            return
        }
        while position < offset {
            let want = Int(min(UInt64(scratch.count), offset - position))
            guard try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<want])) == want else {
                throw LocalFailure("the image ends at \(position), before \(offset)")
            }
        }
    }

    /// At the end of a decoder's output: it must have succeeded.
    private func checkDecoder() throws(LocalFailure) {
        guard let decoder, let pid = child else { return }
        var status: Int32 = 0
        guard waitpid(pid, &status, 0) == pid else { return }
        child = nil
        let exited = status & 0x7f == 0
        guard exited && (status >> 8) & 0xff == 0 else { throw LocalFailure("\(decoder) -dc failed: the image is damaged") }
    }
}
