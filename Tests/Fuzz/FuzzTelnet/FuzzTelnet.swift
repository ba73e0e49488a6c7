// libFuzzer target: telnet as a serial port server (ser2net, RFC 2217) sends it, decoded by
// the client's TelnetCodec. The input is fed in pieces: the data that comes out is never
// more than went in, every reply is a whole telnet command, and the negotiation ends
// (replies stay bounded). Then the input as data, escaped for a server in binary mode,
// decodes back to itself.
import DbgClient

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTelnet(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let output = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 1)
    defer { output.deallocate() }
    var codec = TelnetCodec(baud: 115_200)
    _ = codec.takeReplies()
    var offset = 0
    while offset < size {
        let piece = min(size - offset, 1 + Int(input[offset] % 32))
        let count = codec.decode(UnsafeRawBufferPointer(rebasing: input[offset..<(offset + piece)]),
                                 into: UnsafeMutableRawBufferPointer(rebasing: output[0..<piece]))
        precondition(count <= piece)
        let replies = codec.takeReplies()
        precondition(replies.isEmpty || (replies.first == TelnetCodec.Byte.iac && replies.count >= 3))
        // Each command answered at most once, with at most the port settings (about 50 bytes).
        precondition(replies.count <= 3 * piece + 64)
        offset += piece
    }
    // Both ends in binary mode: what is encoded decodes to itself.
    var sender = TelnetCodec(baud: 9600)
    var receiver = TelnetCodec(baud: 9600)
    let binary: [UInt8] = [TelnetCodec.Byte.iac, TelnetCodec.Byte.doo, TelnetCodec.Option.binary,
                           TelnetCodec.Byte.iac, TelnetCodec.Byte.will, TelnetCodec.Option.binary]
    binary.withUnsafeBytes { command in
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: command.count, alignment: 1)
        defer { scratch.deallocate() }
        _ = sender.decode(command, into: scratch)
        _ = receiver.decode(command, into: scratch)
    }
    precondition(sender.isBinary == (true, true) && receiver.isBinary == (true, true))
    var encoded: [UInt8] = []
    sender.encode(input, into: &encoded)
    let back = UnsafeMutableRawBufferPointer.allocate(byteCount: max(encoded.count, 1), alignment: 1)
    defer { back.deallocate() }
    let count = encoded.withUnsafeBytes { receiver.decode($0, into: back) }
    precondition(count == size && Array(back[0..<count]) == Array(input))
    return 0
}
