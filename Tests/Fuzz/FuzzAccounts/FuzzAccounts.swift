// libFuzzer target: the passwd, shadow and group parsers, on the input as each file,
// and the decoy's choice of hashes (scheme and cost parsing).
@testable import DbgAgent
import CSys

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAccounts(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = csys_input_file(data, size)
    guard fd >= 0 else { return 0 }
    defer { FileDescriptor(fd).close() }
    let path = "/proc/self/fd/\(fd)"
    let names: [[UInt8]] = [Array("root".utf8), Array("alice".utf8), [], Array(UnsafeBufferPointer(start: data, count: min(size, 8)))]
    for name in names {
        _ = try? UserAccount.find(name, inPasswd: path)
        _ = try? ShadowEntry.find(name, inShadow: path)
        _ = try? GroupFile.groups(of: name, primary: 0, path: path)
    }
    _ = try? UserAccount.find(uid: 0, inPasswd: path)
    for hash in ShadowEntry.hashPerCost(inShadow: path, limit: 16) {
        _ = ShadowEntry.costPart(hash)
    }
    return 0
}
