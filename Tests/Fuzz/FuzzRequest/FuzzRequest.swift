// libFuzzer target: an HTTP request head as the agent's HTTP server reads it
// (HTTPRequestHead). Whatever the bytes, it answers incomplete, complete or a refusal
// with a status; a complete head's ranges lie inside what it took, and the same bytes
// fed a byte at a time never disagree with the whole.
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let whole: Result<HTTPRequestHead.Parse, HTTPRequestHead.Refusal> = Result { () throws(HTTPRequestHead.Refusal) in
        try HTTPRequestHead.parse(bytes, maxHeadBytes: 4096, maxBody: 1 << 20)
    }
    switch whole {
    case .success(.complete(let head, let length)):
        precondition(length <= size && length <= 4096)
        for range in [head.target, head.methodRange] + [head.host, head.cookie, head.authorization, head.secWebSocketKey].compactMap({ $0 }) {
            precondition(range.lowerBound >= 0 && range.upperBound <= length)
        }
        precondition(head.contentLength <= 1 << 20)
        // Any prefix that ends before the head's end is incomplete or refused, never complete.
        if length > 1 {
            let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<(length - 1)])
            if case .complete = try? HTTPRequestHead.parse(prefix, maxHeadBytes: 4096, maxBody: 1 << 20) {
                preconditionFailure("a prefix of a head parsed complete")
            }
        }
    case .success(.incomplete):
        precondition(size < 4096)
    case .failure(let refusal):
        precondition([400, 411, 413, 431, 505].contains(refusal.status))
    }
    return 0
}
