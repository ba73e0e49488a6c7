@testable import DbgAgent
import Testing

@Suite("Command line splitting")
struct CommandSplitterTests {
    private func split(_ line: String) -> Result<[String], SplitError> {
        do throws(SplitError) {
            return .success(try CommandSplitter.split(Array(line.utf8)).map { String(decoding: $0, as: UTF8.self) })
        } catch {
            return .failure(error)
        }
    }

    @Test("words, quotes and escapes", arguments: [
        ("ls", ["ls"]),
        ("ls -l /tmp", ["ls", "-l", "/tmp"]),
        (" \t ls \n -l ", ["ls", "-l"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ("a\\ b", ["a b"]),
        ("'it''s'", ["its"]),
        ("\"a\\\"b\\\\c\\$d\\`e\"", ["a\"b\\c$d`e"]),
        ("\"a\\nb\"", ["a\\nb"]),
        ("'a\\nb'", ["a\\nb"]),
        ("\"a\\\nb\"", ["ab"]),
        ("a\\\nb", ["ab"]),
        ("''", [""]),
        ("a '' b", ["a", "", "b"]),
        ("$HOME *.c ~", ["$HOME", "*.c", "~"]),
        ("x'y'\"z\"w", ["xyzw"]),
    ])
    func words(_ line: String, _ expected: [String]) {
        #expect(split(line) == .success(expected), "\(line)")
    }

    @Test("what cannot be split", arguments: [
        ("", SplitError.empty),
        ("   \t", .empty),
        ("\\\n", .empty),
        ("'abc", .unterminatedSingleQuote),
        ("echo \"abc", .unterminatedDoubleQuote),
        ("echo \"abc\\\"", .unterminatedDoubleQuote),
        ("abc\\", .trailingBackslash),
    ])
    func failures(_ line: String, _ error: SplitError) {
        #expect(split(line) == .failure(error), "\(line)")
    }

    @Test("working directories resolve against home")
    func workingDirectories() {
        func resolve(_ cwd: String) -> String {
            String(decoding: DbgService.workingDirectory(Array(cwd.utf8), home: Array("/home/u".utf8)), as: UTF8.self)
        }
        #expect(resolve("") == "/home/u")
        #expect(resolve("src") == "/home/u/src")
        #expect(resolve("/tmp") == "/tmp")
    }
}
