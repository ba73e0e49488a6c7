/// The value of a `string` or `[]byte` field.
///
/// Decoded by the agent, it is a view into the receive buffer (no copy) that is valid
/// only while the frame is being handled. Built by a sender, it owns its bytes or points
/// at a literal. Strings are byte strings on the wire: no encoding is enforced here.
public struct WireBytes: Equatable, ExpressibleByStringLiteral {
    enum Storage {
        case view(UnsafeRawBufferPointer)
        case owned([UInt8])
        case literal(StaticString)
    }

    let storage: Storage

    public init(viewing bytes: UnsafeRawBufferPointer) { storage = .view(bytes) }
    public init(_ bytes: [UInt8]) { storage = .owned(bytes) }
    public init(_ literal: StaticString) { storage = .literal(literal) }
    public init(_ string: String) { storage = .owned(Array(string.utf8)) }
    public init(stringLiteral literal: StaticString) { storage = .literal(literal) }

    public static var empty: WireBytes { WireBytes([]) }

    public var count: Int {
        switch storage {
        case .view(let bytes): return bytes.count
        case .owned(let bytes): return bytes.count
        case .literal(let literal): return literal.utf8CodeUnitCount
        }
    }

    public var isEmpty: Bool { count == 0 }

    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .view(let bytes):
            return try body(bytes)
        case .owned(let bytes):
            // Array.withUnsafeBytes has untyped throws; keep the typed error across it.
            var result: Result<R, E>?
            bytes.withUnsafeBytes { raw in
                do throws(E) { result = .success(try body(raw)) } catch { result = .failure(error) }
            }
            return try result!.get()
        case .literal(let literal):
            return try body(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
        }
    }

    /// A copy that owns its bytes, for keeping a decoded value beyond its frame.
    public var owned: WireBytes { WireBytes(bytes) }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The bytes read as UTF-8 (invalid sequences become U+FFFD).
    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Paths, argv and environment strings must not contain NUL (C would cut them short).
    public var containsNUL: Bool { withUnsafeBytes { $0.contains(0) } }

    public static func == (lhs: WireBytes, rhs: WireBytes) -> Bool {
        lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in a.elementsEqual(b) } }
    }
}
