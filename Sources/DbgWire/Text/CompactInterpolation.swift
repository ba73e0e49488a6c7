// Embedded Swift inlines the standard library's generic string interpolation at every
// use: "\(name): \(count)" costs about 400 bytes of code per value. These overloads are
// more specific than the standard library's (or shadow it), so every interpolation in the
// modules that import DbgWire calls one small function per segment instead.
extension DefaultStringInterpolation {
    @inline(never)
    public mutating func appendLiteral(_ literal: String) {
        write(literal)
    }

    @inline(never)
    public mutating func appendInterpolation(_ value: String) {
        write(value)
    }

    @inline(never)
    public mutating func appendInterpolation(_ value: Substring) {
        write(String(value))
    }

    @inline(never)
    public mutating func appendInterpolation(_ value: Int) {
        write(String(value))
    }

    @inline(never)
    public mutating func appendInterpolation(_ value: UInt64) {
        write(String(value))
    }

    public mutating func appendInterpolation(_ value: Int64) { appendInterpolation(Int(value)) }
    public mutating func appendInterpolation(_ value: Int32) { appendInterpolation(Int(value)) }
    public mutating func appendInterpolation(_ value: UInt32) { appendInterpolation(Int(value)) }
    public mutating func appendInterpolation(_ value: UInt16) { appendInterpolation(Int(value)) }
    public mutating func appendInterpolation(_ value: UInt8) { appendInterpolation(Int(value)) }
    public mutating func appendInterpolation(_ value: UInt) { appendInterpolation(UInt64(value)) }

    @inline(never)
    public mutating func appendInterpolation(_ value: Bool) {
        write(value ? "true" : "false")
    }

    @inline(never)
    public mutating func appendInterpolation<T: CustomStringConvertible>(_ value: T) {
        write(value.description)
    }
}
