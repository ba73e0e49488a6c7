// libFuzzer target: a JSON text as a JSON-RPC or HTTP peer may send it, read by
// JSONReader. Reading never traps and stays bounded (nesting 64); what was read is
// written by JSONWriter to a text that reads back as the same value, and writing that
// again gives the same bytes. The same text as a JSON-RPC message gets an answer that is
// JSON itself (or none, for notifications only).
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    if let answer = JSONRPC.answer(Array(input), { request in .success(request.params ?? .null) }) {
        precondition((try? JSONReader.parse(answer)) != nil, "a JSON-RPC answer is JSON")
    }
    guard let value = try? JSONReader.parse(input) else { return 0 }
    let written = JSONWriter.encode(value)
    let again = try? JSONReader.parse(written)
    precondition(again == value, "written JSON reads back as the same value")
    precondition(JSONWriter.encode(again!) == written, "writing is stable")
    return 0
}
