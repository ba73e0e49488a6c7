// libFuzzer target: a forwarding address as StreamConnect and StreamListen carry it and
// dbg forward and reverse read it (ForwardAddress). A TCP address that parses prints as a
// text that parses to the same address; a Unix socket's path is the bytes sent, exactly
// (a path need not be UTF-8, so its description, which is text, is not compared).
import DbgPlatform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForward(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = Array(UnsafeBufferPointer(start: data, count: size))
    for anyPort in [false, true] {
        guard let address = try? ForwardAddress.parse(text, anyPort: anyPort) else { continue }
        if case .unix(let path) = address {
            precondition(path == Array(text.dropFirst(5)) && !path.isEmpty && path.count < 108 && !path.contains(0))
            continue
        }
        let printed = Array(address.description.utf8)
        let again = try? ForwardAddress.parse(printed, anyPort: anyPort)
        precondition(again.map { Array($0.description.utf8) } == printed, "a parsed address does not read back: " + address.description)
    }
    return 0
}
