// libFuzzer target: one WebSocket binary message of the channel protocol (seed 004), read
// by API.Command's generated decoder on ProtobufReader. Reading never traps and never
// reads past the input; what was read writes (ProtobufWriter) to canonical bytes that
// read back as the same Command, and writing that again gives the same bytes. The same
// bytes as the first of a large message: a streamed write's head is found within them.
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChannels(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let head = try? StreamedFileContent.readWriteHead(input) {
        precondition(head.contentOffset <= size && UInt64(head.contentOffset) + head.contentLength > UInt64(size),
                     "a streamed write's content starts in the bytes read and runs past them")
    }
    guard var command = try? API.Command.decode(payload: UnsafeRawBufferPointer(start: data, count: size)) else { return 0 }
    // A body the agent does not implement is not written back.
    if case .unimplemented = command.body { command.body = nil }
    // An int32 sent in 5 bytes is written in 10: twice the input is room enough.
    let capacity = 2 * size + 64
    let first = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
    let second = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
    defer {
        first.deallocate()
        second.deallocate()
    }
    guard let count = try? command.encode(into: first) else { preconditionFailure("a decoded Command writes") }
    let written = UnsafeRawBufferPointer(rebasing: first[0..<count])
    guard let again = try? API.Command.decode(payload: written) else { preconditionFailure("written bytes read back") }
    precondition(again == command, "written bytes read back as the same Command")
    guard let recount = try? again.encode(into: second) else { preconditionFailure("a read Command writes again") }
    precondition(UnsafeRawBufferPointer(rebasing: second[0..<recount]).elementsEqual(written), "writing is stable")
    return 0
}
