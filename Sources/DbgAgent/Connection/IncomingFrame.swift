import DbgWire

/// A request as handed to a service: the header and a view of its payload in the
/// receive buffer, valid until the handler returns.
struct Request {
    let header: FrameHeader
    let payload: UnsafeRawBufferPointer
}

/// What the receive buffer holds next.
enum IncomingFrame {
    /// Not a whole frame yet.
    case incomplete
    case request(Request)
    /// A header that breaks the protocol; the connection must end.
    case violation(FrameHeader, FrameViolation)
    /// A well-formed frame of another kind than request: clients may only send requests.
    case unexpectedKind(FrameHeader)
}

extension ByteBuffer {
    func nextFrame(maxPayload: UInt32) -> IncomingFrame {
        let bytes = readable
        guard bytes.count >= FrameHeader.size else {
            // A peer that speaks something else (an HTTP client, a scanner, a short probe)
            // is known by its first two bytes: it is not kept waiting for a whole header.
            if bytes.count >= 2 {
                let magic = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
                if magic != FrameHeader.magicValue { return .violation(.connectionLevel, .badMagic(magic)) }
            }
            return .incomplete
        }
        let header = FrameHeader(parsing: bytes)
        if let violation = header.violation(maxPayload: maxPayload) { return .violation(header, violation) }
        guard header.kind == .request else { return .unexpectedKind(header) }
        let end = FrameHeader.size + Int(header.length)
        guard bytes.count >= end else { return .incomplete }
        return .request(Request(header: header, payload: UnsafeRawBufferPointer(rebasing: bytes[FrameHeader.size..<end])))
    }
}
