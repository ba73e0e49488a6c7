import DbgWire

/// Splits a RunCommand command line into argv the way a POSIX shell splits words, and
/// nothing more: single quotes keep everything literally, double quotes keep everything
/// but `\"`, `\\`, `\$` and `` \` ``, a backslash outside quotes escapes the next byte.
/// There is no globbing, no variable expansion and no operators: `|`, `>`, `;`, `$HOME`
/// and `*` reach the program as they are (RunShell is for shell syntax).
enum CommandSplitter {
    /// A request's Command field (RunCommand, distro Run and RunStart) as argv, or the
    /// BadRequest that names what is wrong with it.
    static func argv(ofCommand command: [UInt8]) throws(ServiceError) -> [[UInt8]] {
        guard !command.contains(0) else { throw ServiceError(.badRequest, "Command: contains a NUL byte") }
        do throws(SplitError) {
            return try split(command)
        } catch {
            throw ServiceError(.badRequest, error.message)
        }
    }

    static func split(_ line: [UInt8]) throws(SplitError) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var word: [UInt8] = []
        var inWord = false
        var index = 0
        func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0a }
        while index < line.count {
            let byte = line[index]
            index += 1
            switch byte {
            case _ where isBlank(byte):
                if inWord { words.append(word) }
                word = []
                inWord = false
            case UInt8(ascii: "'"):
                inWord = true
                guard let close = line[index...].firstIndex(of: UInt8(ascii: "'")) else { throw .unterminatedSingleQuote }
                word.append(contentsOf: line[index..<close])
                index = close + 1
            case UInt8(ascii: "\""):
                inWord = true
                var closed = false
                while index < line.count {
                    let inner = line[index]
                    index += 1
                    if inner == UInt8(ascii: "\"") {
                        closed = true
                        break
                    }
                    if inner == UInt8(ascii: "\\"), index < line.count, isEscapableInDoubleQuotes(line[index]) {
                        if line[index] != 0x0a { word.append(line[index]) }  // backslash-newline joins lines
                        index += 1
                    } else {
                        word.append(inner)
                    }
                }
                if !closed { throw .unterminatedDoubleQuote }
            case UInt8(ascii: "\\"):
                guard index < line.count else { throw .trailingBackslash }
                if line[index] != 0x0a {
                    word.append(line[index])
                    inWord = true
                }
                index += 1
            default:
                word.append(byte)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        guard !words.isEmpty else { throw .empty }
        return words
    }

    private static func isEscapableInDoubleQuotes(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "$")
            || byte == UInt8(ascii: "`") || byte == 0x0a
    }
}

enum SplitError: Error, Equatable {
    case empty
    case unterminatedSingleQuote
    case unterminatedDoubleQuote
    case trailingBackslash

    var message: String {
        switch self {
        case .empty: return "Command: empty (no program to run)"
        case .unterminatedSingleQuote: return "Command: unterminated single quote"
        case .unterminatedDoubleQuote: return "Command: unterminated double quote"
        case .trailingBackslash: return "Command: ends with a backslash"
        }
    }
}
