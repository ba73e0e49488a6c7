// libFuzzer target: the distro HTTP client's response parser. The input is what the
// server sends (status line, headers, a body by length, chunks or until close); it is
// read from a socket like a real response, and the body read to its end.
@testable import DbgAgent
import CSys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var ends: [Int32] = [-1, -1]
    guard csys_socketpair(&ends) == 0 else { return 0 }
    // The whole response is written first (a socket buffer holds libFuzzer's inputs).
    var written = 0
    while written < size {
        let count = write(ends[1], data + written, size - written)
        if count <= 0 { break }
        written += count
    }
    _ = shutdown(ends[1], CSYS_SHUT_WR)
    defer { FileDescriptor(ends[1]).close() }
    guard case .http(let location)? = try? ArchiveLocation.parse(Array("http://fuzz.invalid/rootfs.tar".utf8)) else {
        fatalError("the fuzz URL does not parse")
    }
    let socket = BufferedSocket(FileDescriptor(ends[0]), cancel: CancelFlag())
    guard case .body(var download)? = try? HTTPDownload.response(on: socket, location) else { return 0 }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 << 10, alignment: 8)
    defer { buffer.deallocate() }
    for _ in 0..<100_000 {
        guard let count = try? download.read(into: buffer), count > 0 else { break }
    }
    download.close()
    return 0
}
