import DbgWire
import Testing

/// DbgWire's interpolation overloads (out-of-line calls, for the firmware's size) must
/// print every value as the standard library does.
@Suite("String interpolation through DbgWire's overloads")
struct CompactInterpolationTests {
    struct Named: CustomStringConvertible {
        var description: String { "named" }
    }

    @Test("literals, strings, substrings, every integer width, Bool and CustomStringConvertible")
    func printsAsTheStandardLibrary() {
        let text = "grüß"
        #expect("[\(text)|\(text.dropFirst(2))]" == "[grüß|üß]")
        #expect("\(Int.min) \(Int64.min) \(Int32.min) \(UInt64.max) \(UInt.max)"
                == "-9223372036854775808 -9223372036854775808 -2147483648 18446744073709551615 18446744073709551615")
        #expect("\(UInt32.max) \(UInt16.max) \(UInt8.max) \(0) \(-1)" == "4294967295 65535 255 0 -1")
        #expect("\(true)/\(false) \(Named()) \(Int8(-7))" == "true/false named -7")
        #expect("" == "\("")" && "a\("")b" == "ab")
    }
}
