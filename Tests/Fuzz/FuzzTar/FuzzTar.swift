// libFuzzer target: a rootfs archive as Install reads it: the decoder picked by magic
// bytes (gzip, xz, zstd or plain), then the tar reader (ustar, GNU long names, pax),
// every entry and its data read to the end.
@testable import DbgAgent
import CSys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTar(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = csys_input_file(data, size)
    guard fd >= 0 else { return 0 }
    var stream = ArchiveStream(.file(FileDescriptor(fd)), what: "fuzz")
    do throws(ServiceError) {
        try stream.begin()
    } catch {
        stream.close()
        return 0
    }
    var reader = TarReader(stream)
    defer { reader.close() }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    defer { buffer.deallocate() }
    let cancel = CancelFlag()
    for _ in 0..<10_000 {
        guard let entry = try? reader.next(cancel: cancel) else { break }
        precondition(entry.size >= 0)
        while let count = try? reader.readData(into: buffer), count > 0 {}
    }
    try? reader.finishArchive()
    return 0
}
