/// Shell completion for dbg, written from the command tree
/// (`dbg --generate-completion-script bash|zsh|fish`): command names, then each command's
/// options and the root's; file names otherwise. zsh uses the bash script through
/// bashcompinit.
struct CompletionScript {
    let root: CommandSpec

    func script(for shell: String) throws(ValidationError) -> String {
        switch shell {
        case "bash": return bash
        case "zsh": return "autoload -U +X bashcompinit && bashcompinit\n" + bash
        case "fish": return fish
        default: throw ValidationError("--generate-completion-script '" + shell + "': expected bash, zsh or fish")
        }
    }

    /// Every command as its words ("distro run") with the options it takes.
    private var commands: [(words: String, options: [OptionSpec], subcommands: [String])] {
        var out: [(String, [OptionSpec], [String])] = []
        func visit(_ command: CommandSpec, _ words: String) {
            out.append((words, command.options, command.subcommands.map(\.name)))
            for sub in command.subcommands { visit(sub, words.isEmpty ? sub.name : words + " " + sub.name) }
        }
        visit(root, "")
        return out
    }

    private static func names(_ options: [OptionSpec]) -> String {
        options.filter { !$0.hidden }.map { "--" + $0.long + ($0.short.map { " -" + String($0) } ?? "") }.joined(separator: " ")
    }

    private var bash: String {
        let global = CompletionScript.names(root.options)
        var cases = ""
        for command in commands where !command.words.isEmpty {
            let words = (command.subcommands + [CompletionScript.names(command.options)]).joined(separator: " ")
            cases += "        \"" + command.words + "\") words=\"" + words + "\" ;;\n"
        }
        return """
            _dbg() {
                local cur=${COMP_WORDS[COMP_CWORD]} path="" i word
                for ((i = 1; i < COMP_CWORD; i++)); do
                    word=${COMP_WORDS[i]}
                    case "$word" in -*) continue ;; esac
                    case " $(_dbg_sub "$path") " in *" $word "*) path=${path:+$path }$word ;; esac
                done
                local words
                case "$path" in
                    "") words="\(root.subcommands.map(\.name).joined(separator: " ")) \(global)" ;;
            \(cases)    esac
                [ -n "$path" ] && words="$words \(global)"
                COMPREPLY=($(compgen -W "$words" -- "$cur"))
                [ ${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
            }
            _dbg_sub() {
                case "$1" in
                    "") echo "\(root.subcommands.map(\.name).joined(separator: " "))" ;;
            \(commands.filter { !$0.words.isEmpty && !$0.subcommands.isEmpty }
                .map { "        \"" + $0.words + "\") echo \"" + $0.subcommands.joined(separator: " ") + "\" ;;\n" }.joined())    esac
            }
            complete -F _dbg dbg

            """
    }

    private var fish: String {
        var out = "complete -c dbg -f -n __fish_use_subcommand\n"
        for option in root.options where !option.hidden {
            out += "complete -c dbg -l " + option.long + (option.short.map { " -s " + String($0) } ?? "")
                + (option.value != nil ? " -r" : "") + " -d " + CompletionScript.quoted(option.help) + "\n"
        }
        for command in root.subcommands {
            out += "complete -c dbg -n __fish_use_subcommand -a " + command.name + " -d " + CompletionScript.quoted(command.abstract) + "\n"
            for sub in command.subcommands {
                out += "complete -c dbg -n '__fish_seen_subcommand_from " + command.name + "' -a " + sub.name + " -d "
                    + CompletionScript.quoted(sub.abstract) + "\n"
            }
            for option in (command.options + command.subcommands.flatMap(\.options)) where !option.hidden {
                out += "complete -c dbg -n '__fish_seen_subcommand_from " + command.name + "' -l " + option.long
                    + (option.short.map { " -s " + String($0) } ?? "") + (option.value != nil ? " -r" : "") + " -d "
                    + CompletionScript.quoted(option.help) + "\n"
            }
        }
        return out
    }

    private static func quoted(_ text: String) -> String {
        "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "\\'") + "'"
    }
}
