// libFuzzer target: a forwarding address as StreamConnect and StreamListen carry it and
// dbg forward and reverse read it (ForwardAddress). One that parses prints as a text
// that parses to the same address.
import DbgPlatform

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForward(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = Array(UnsafeBufferPointer(start: data, count: size))
    for anyPort in [false, true] {
        guard let address = try? ForwardAddress.parse(text, anyPort: anyPort) else { continue }
        let text = Array(address.description.utf8)
        let again = try? ForwardAddress.parse(text, anyPort: anyPort)
        precondition(again.map { Array($0.description.utf8) } == text, "a parsed address does not read back: " + address.description)
        if case .unix(let path) = address { precondition(!path.isEmpty && path.count < 108 && !path.contains(0)) }
    }
    return 0
}
