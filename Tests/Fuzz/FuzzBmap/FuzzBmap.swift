// libFuzzer target: a bmaptool block map as `dbg flash --bmap` reads it (BlockMap). A
// map that parses is consistent: its ranges in order, inside the image, their bytes
// within the image's size.
import DbgClient

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBmap(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard let map = try? BlockMap(parsing: Array(UnsafeBufferPointer(start: data, count: size))) else { return 0 }
    precondition(map.blockSize > 0 && map.blockSize % 512 == 0)
    var end: UInt64 = 0
    for (index, range) in map.ranges.enumerated() {
        precondition(range.first <= range.last && (index == 0 || range.first > map.ranges[index - 1].last))
        let (offset, length) = map.bytes(of: range)
        precondition(offset >= end && length > 0 && offset + length <= map.imageSize)
        end = offset + length
    }
    precondition(map.mappedBytes <= map.imageSize)
    return 0
}
