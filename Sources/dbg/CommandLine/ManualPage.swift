/// dbg.1, the manual page, written from the same command tree as the help
/// (`dbg --manual`; Scripts/manual writes and checks it).
struct ManualPage {
    let root: CommandSpec
    let version: String

    var text: String {
        var out = ".TH DBG 1 \"\" \"" + ManualPage.escape(version) + "\" \"User Commands\"\n"
        out += ".SH NAME\ndbg \\- " + ManualPage.escape(root.abstract) + "\n"
        out += ".SH SYNOPSIS\n.B dbg\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]\n"
        out += ".SH DESCRIPTION\n" + ManualPage.paragraphs(root.discussion)
        out += ".SH OPTIONS\nThese go before the command or after it.\n" + ManualPage.options(root.options)
        out += ".SH COMMANDS\n"
        for command in root.subcommands { out += section([root, command]) }
        out += ".SH FILES\n.TP\n.I ~/.config/dbg/config\nNamed boards (see \\fBdbg boards\\fR); DBG_CONFIG or XDG_CONFIG_HOME choose another.\n"
        out += ".TP\n.I ~/.config/dbg/known_agents\nThe board keys trusted over TLS: one HOST:PORT SHA256:... line per board.\n"
        out += ".TP\n.I ~/.config/dbg/client.key\nThis user's client key for key login over TLS (\\fBdbg keygen\\fR; DBG_KEY names another).\n"
        return out
    }

    private func section(_ chain: [CommandSpec]) -> String {
        let command = chain.last!
        var out = ".SS \"" + ManualPage.escape(HelpText.usage(chain)) + "\"\n" + ManualPage.paragraphs(command.abstract)
        if !command.discussion.isEmpty { out += ManualPage.paragraphs(command.discussion) }
        for argument in command.arguments where !argument.help.isEmpty {
            out += ".TP\n.I " + ManualPage.escape(argument.name) + "\n" + ManualPage.escape(argument.help) + "\n"
        }
        out += ManualPage.options(command.options)
        for subcommand in command.subcommands { out += section(chain + [subcommand]) }
        return out
    }

    private static func options(_ options: [OptionSpec]) -> String {
        var out = ""
        for option in options where !option.hidden {
            out += ".TP\n" + (option.short.map { "\\fB\\-" + String($0) + "\\fR, " } ?? "") + "\\fB\\-\\-"
                + escape(option.long) + "\\fR" + (option.value.map { " \\fI" + escape($0) + "\\fR" } ?? "") + "\n"
                + escape(option.help) + "\n"
        }
        return out
    }

    /// Text lines as paragraphs; indented lines (examples) kept as they are.
    private static func paragraphs(_ text: String) -> String {
        var out = ""
        var example = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first == " " {
                if !example { out += ".PP\n.nf\n" }
                example = true
                out += escape(String(line)) + "\n"
                continue
            }
            if example { out += ".fi\n" }
            example = false
            if !line.isEmpty { out += ".PP\n" + escape(String(line)) + "\n" }
        }
        if example { out += ".fi\n" }
        return out
    }

    /// Text safe in roff: backslashes and hyphens escaped, no line starting a request.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "\\": out += "\\e"
            case "-": out += "\\-"
            default: out.append(character)
            }
        }
        if out.first == "." || out.first == "'" { out = "\\&" + out }
        return out
    }
}
