import ArgumentParser
import Foundation

/// Target and login options given before the command (`dbg -H board -u tester exec -- id`),
/// the way adb, hdc and ssh take them. They are moved to right after the command's name
/// (`dbg distro run` included), where every command declares them, so that one given again
/// later on the line still wins.
enum LeadingOptions {
    /// Long name, short name, whether a value follows.
    static let all: [(long: String, short: String?)] = [
        ("--host", "-H"), ("--user", "-u"), ("--board", "-b"), ("--password-file", nil), ("--connect-timeout", nil),
        ("--wait", nil),
    ]

    /// `arguments` (without the program name) with the leading options moved after the
    /// command; nil (after one line on stderr) when one of them lacks its value.
    static func hoist(_ arguments: [String], root: ParsableCommand.Type) -> [String]? {
        var taken: [String] = []
        var index = 0
        while index < arguments.count, let (long, attached) = match(arguments[index]) {
            if let attached {
                taken += [long, attached]
                index += 1
            } else {
                guard index + 1 < arguments.count else {
                    FileHandle.standardError.write(Data("dbg: \(arguments[index]) needs a value (see dbg --help)\n".utf8))
                    return nil
                }
                taken += [long, arguments[index + 1]]
                index += 2
            }
        }
        let rest = Array(arguments[index...])
        let path = commandPath(rest, root: root)
        // Without a command (dbg -H x --help) the line is left to the parser as it is.
        guard !taken.isEmpty, path > 0 else { return arguments }
        return Array(rest[..<path]) + taken + Array(rest[path...])
    }

    /// How many leading words of `words` name a command and its subcommands.
    private static func commandPath(_ words: [String], root: ParsableCommand.Type) -> Int {
        var command = root
        var count = 0
        while count < words.count,
              let next = command.configuration.subcommands.first(where: {
                  $0._commandName == words[count] || $0.configuration.aliases.contains(words[count])
              }) {
            command = next
            count += 1
        }
        return count
    }

    /// The option `word` is, by its long name (with its value when attached: `--host=X`, `-HX`).
    private static func match(_ word: String) -> (String, String?)? {
        for (long, short) in all {
            if word == long || word == short { return (long, nil) }
            if word.hasPrefix(long + "=") { return (long, String(word.dropFirst(long.count + 1))) }
            if let short, word.hasPrefix(short), word.count > short.count, !word.hasPrefix("--") {
                return (long, String(word.dropFirst(short.count)))
            }
        }
        return nil
    }
}
