// libFuzzer target: WebSocket frames as the agent's server reads them (WebSocketFrame,
// UTF8Validator). Frames are taken one after another from the input until one is
// refused or incomplete: a head never claims more than the input holds, control frames
// are whole and short, unmasking twice gives the bytes back, and text is checked as
// UTF-8 piece by piece with the same verdict as in one piece. Then the input as a key,
// and as process output made UTF-8 (UTF8Repair): always valid, valid input unchanged,
// and a piece cut anywhere never splits a character.
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWebSocket(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 1)
    defer { copy.deallocate() }
    copy.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size))
    var offset = 0
    var whole = UTF8Validator()
    var pieces = UTF8Validator()
    var wholeOK = true, piecesOK = true
    while offset < size {
        let rest = UnsafeRawBufferPointer(rebasing: copy[offset..<size])
        guard case .complete(let frame, let head)? = try? WebSocketFrame.parse(rest, maxPayload: 1 << 16) else { break }
        precondition(head >= 6 && head <= 14 && head <= rest.count)
        if frame.opcode.isControl { precondition(frame.fin && frame.length <= 125) }
        guard UInt64(rest.count - head) >= frame.length else { break }
        let payload = UnsafeMutableRawBufferPointer(rebasing: copy[(offset + head)..<(offset + head + Int(frame.length))])
        let before = Array(payload)
        WebSocketFrame.unmask(payload, key: frame.mask!)
        if frame.opcode == .text || frame.opcode == .continuation {
            wholeOK = wholeOK && whole.feed(UnsafeRawBufferPointer(payload))
            for index in 0..<payload.count where piecesOK {
                piecesOK = pieces.feed(UnsafeRawBufferPointer(rebasing: payload[index..<(index + 1)]))
            }
            precondition(wholeOK == piecesOK && (!wholeOK || whole.isComplete == pieces.isComplete))
        }
        WebSocketFrame.unmask(payload, key: frame.mask!)
        precondition(Array(payload) == before)
        offset += head + Int(frame.length)
    }
    checkRepair(UnsafeRawBufferPointer(start: data, count: size))
    if size <= 64, let accept = WebSocketHandshake.accept(key: Array(UnsafeRawBufferPointer(start: data, count: size))) {
        precondition(accept.count == 28 && accept.last == UInt8(ascii: "="))
    }
    return 0
}

private func checkRepair(_ input: UnsafeRawBufferPointer) {
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 3 * input.count + 3, alignment: 1)
    defer { out.deallocate() }
    let (read, written) = UTF8Repair.copy(input, into: out, maxOut: out.count, final: true)
    precondition(read == input.count && written <= out.count)
    var check = UTF8Validator()
    precondition(check.feed(UnsafeRawBufferPointer(rebasing: out[0..<written])) && check.isComplete)
    var original = UTF8Validator()
    if original.feed(input) && original.isComplete { precondition(written == read && out.prefix(written).elementsEqual(input)) }
    // A limited piece that is not final ends on a character boundary.
    let limit = input.count / 2 + 3
    let (partRead, partWritten) = UTF8Repair.copy(input, into: out, maxOut: limit, final: false)
    precondition(partRead <= input.count && partWritten <= limit)
    var piece = UTF8Validator()
    precondition(piece.feed(UnsafeRawBufferPointer(rebasing: out[0..<partWritten])) && piece.isComplete)
}
