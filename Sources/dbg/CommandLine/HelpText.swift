/// `dbg --help` and `dbg COMMAND --help`: usage line, abstract, discussion, the
/// subcommands and the options, wrapped to 80 columns.
struct HelpText {
    let chain: [CommandSpec]
    static let width = 80

    var text: String {
        let command = chain.last!
        let name = chain.map(\.name).joined(separator: " ")
        var out = "Usage: " + HelpText.usage(chain) + "\n\n" + HelpText.wrap(command.abstract, indent: 0) + "\n"
        if !command.discussion.isEmpty { out += "\n" + HelpText.wrap(command.discussion, indent: 0) + "\n" }
        if !command.subcommands.isEmpty {
            out += "\nCommands:\n" + HelpText.table(command.subcommands.map { ($0.name, $0.abstract) })
            out += "\nSee '" + name + " COMMAND --help' (or " + name + " help COMMAND) for one of them.\n"
        }
        let arguments = command.arguments.filter { !$0.help.isEmpty }
        if !arguments.isEmpty { out += "\nArguments:\n" + HelpText.table(arguments.map { ($0.name, $0.help) }) }
        let own = command.options.filter { !$0.hidden }
        if chain.count > 1 {
            if !own.isEmpty { out += "\nOptions:\n" + HelpText.table(own.map { ($0.synopsis, $0.help) }) }
            out += "\nTarget and login (before or after the command; dbg --help says more):\n"
            out += HelpText.table(chain[0].options.filter { !$0.hidden && $0.long != "version" && $0.long != "generate-completion-script" }.map { ($0.synopsis, $0.help) })
        } else {
            out += "\nOptions (before or after the command):\n" + HelpText.table(own.map { ($0.synopsis, $0.help) })
        }
        return out
    }

    /// "dbg exec [OPTIONS] [--] PROGRAM [ARG...]"
    static func usage(_ chain: [CommandSpec]) -> String {
        let command = chain.last!
        var words = chain.map(\.name)
        words.append("[OPTIONS]")
        if !command.subcommands.isEmpty { words.append("COMMAND") }
        words += command.arguments.map(\.synopsis)
        return words.joined(separator: " ")
    }

    /// Two columns: names, then what they mean, wrapped under itself.
    static func table(_ rows: [(String, String)]) -> String {
        let column = min(30, (rows.map { $0.0.count }.max() ?? 0) + 4)
        var out = ""
        for (name, help) in rows {
            let left = "  " + name
            let body = wrap(help, indent: column)
            if left.count + 2 > column {
                out += left + "\n" + String(repeating: " ", count: column) + body.drop { $0 == " " } + "\n"
            } else {
                out += left + String(repeating: " ", count: column - left.count) + body.drop { $0 == " " } + "\n"
            }
        }
        return out
    }

    /// Paragraphs (lines) wrapped at `width`, each line indented; a line that starts with
    /// a space is an example and is kept as it is.
    static func wrap(_ text: String, indent: Int) -> String {
        let margin = String(repeating: " ", count: indent)
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if paragraph.first == " " || paragraph.isEmpty {
                lines.append(paragraph.isEmpty ? "" : margin + paragraph)
                continue
            }
            var line = margin
            for word in paragraph.split(separator: " ") {
                if line.count > indent && line.count + 1 + word.count > width {
                    lines.append(line)
                    line = margin
                }
                line += (line.count > indent ? " " : "") + word
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
