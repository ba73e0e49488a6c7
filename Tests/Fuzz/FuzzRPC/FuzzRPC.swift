// libFuzzer target: the runtime socket's line reader and the runtime's params. Bytes go
// through a real socket pair into an RPCConnection in pieces the input chooses; every
// line it hands out lies within what was received and holds no newline, an overlong one
// is reported once and skipped; each line is read as JSON-RPC and each request's params
// through AppParams' accessors (bounded, never trapping).
import Glibc
@testable import DbgAgent
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRPC(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let piece = Int(data[0] % 64) + 1
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    var pair: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &pair) == 0 else { return 0 }
    defer { close(pair[1]) }
    let maxBytes = 256
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: maxBytes + 1, alignment: 8)
    defer { memory.deallocate() }
    var connection = RPCConnection(buffer: memory)
    connection.open(FileDescriptor(pair[0]), caller: AppCaller(uid: 0, groups: [0]))
    var offset = 0
    if bytes.isEmpty { shutdown(pair[1], Int32(SHUT_WR)) }
    while true {
        if offset < bytes.count {
            let count = min(piece, bytes.count - offset)
            _ = write(pair[1], bytes.baseAddress! + offset, count)
            offset += count
            if offset == bytes.count { shutdown(pair[1], Int32(SHUT_WR)) }
        }
        if connection.receive() == .ended { connection.ended = true }
        while let line = connection.nextLine(maxBytes: maxBytes) {
            guard case .message(let range) = line else { continue }
            precondition(range.upperBound <= connection.received && range.count <= maxBytes)
            let text = UnsafeRawBufferPointer(rebasing: connection.buffer[range])
            precondition(!text.contains(UInt8(ascii: "\n")))
            if case .items(let items, _) = JSONRPC.read(text, maxBytes: maxBytes) {
                for case .request(let request) in items { exercise(request) }
            }
            connection.consume(min(range.upperBound + 1, connection.received))
        }
        if connection.ended && offset == bytes.count { break }
    }
    connection.reset()
    return 0
}

private func exercise(_ request: JSONRPC.Request) {
    guard let params = try? AppParams(request.params, method: request.method) else { return }
    _ = try? params.optionalString("id")
    _ = try? params.bytes("procedure")
    _ = try? params.timeoutMs()
    _ = try? params.optionalInteger("since", in: 0...Int64.max)
    _ = try? params.optionalBool("follow")
    _ = try? params.only(["id", "procedure", "input", "timeout"])
}
