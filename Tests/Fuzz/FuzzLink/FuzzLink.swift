// libFuzzer target: the serial link layer. The input is split at 0x00 into pieces; a
// piece whose first byte is even becomes a valid line frame (COBS + CRC-32) around the
// rest, so the engine's packet handling is reached past the CRC; an odd one goes to the
// line as it is. Line frames are also decoded on their own. The line is fed to a link
// engine of each role in steps, with the clock moving, and the engines are drained.
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLink(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var line: [UInt8] = []
    for piece in UnsafeBufferPointer(start: data, count: size).split(separator: 0, omittingEmptySubsequences: false) {
        guard let first = piece.first else { continue }
        if first % 2 == 0 {
            LineCoding.encode(Array(piece.dropFirst()), into: &line)
        } else {
            line += piece.dropFirst()
            line.append(0)
        }
    }
    for frame in line.split(separator: 0) {
        if let packet = LineCoding.decode(frame) {
            // What decodes, encoded again, decodes to the same packet.
            var again: [UInt8] = []
            LineCoding.encode(packet, into: &again)
            precondition(again.last == 0 && LineCoding.decode(again.dropLast()) == packet)
        }
    }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
    defer { buffer.deallocate() }
    for role in [LinkEngine.Role.agent, .client] {
        var engine = LinkEngine(role: role, baud: 115_200)
        if role == .client { engine.open(nonce: 0x1234_5678, now: 0) }
        var now: Int64 = 1
        var offset = 0
        while offset < line.count {
            let piece = min(line.count - offset, 1 + Int(line[offset] % 64))
            line.withUnsafeBytes { _ = engine.receive(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + piece)]), now: now) }
            offset += piece
            now += Int64(piece)
            _ = engine.readInbound(into: buffer)
            _ = engine.writeOutbound(UnsafeRawBufferPointer(rebasing: buffer[0..<16]))
            let out = engine.lineOutput(now: now)
            engine.lineWritten(out.count, now: now)
            if let deadline = engine.nextDeadline(), deadline > now { now = min(deadline, now + 10_000) }
        }
        engine.close()
    }
    return 0
}
