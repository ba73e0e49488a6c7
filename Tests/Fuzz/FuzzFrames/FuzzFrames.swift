// libFuzzer target: the agent's frame splitter over a receive buffer, as a connection
// would run it (headers, violations, lengths), and the header's own encoding.
@testable import DbgAgent
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
    defer { memory.deallocate() }
    memory.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
    var buffer = ByteBuffer(memory)
    buffer.didWrite(size)
    let maxPayload = UInt32(4096)
    frames: while true {
        switch buffer.nextFrame(maxPayload: maxPayload) {
        case .incomplete:
            break frames
        case .request(let request):
            precondition(request.payload.count == Int(request.header.length) && request.header.length <= maxPayload)
            buffer.didRead(FrameHeader.size + request.payload.count)
        case .violation, .unexpectedKind:
            break frames
        }
    }
    if size >= FrameHeader.size {
        let header = FrameHeader(parsing: UnsafeRawBufferPointer(start: data, count: size))
        if header.violation(maxPayload: .max) == nil {
            // A valid header encodes back to the same 20 bytes.
            var out = [UInt8](repeating: 0, count: FrameHeader.size)
            out.withUnsafeMutableBytes { raw in
                var writer = WireWriter(raw)
                try! header.encode(to: &writer)
            }
            precondition(out.elementsEqual(UnsafeBufferPointer(start: data, count: FrameHeader.size)))
        }
    }
    return 0
}
