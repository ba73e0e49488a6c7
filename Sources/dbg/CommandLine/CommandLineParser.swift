/// What the command line said, for the command it chose: option values by long name,
/// flags, and the arguments in order. Reading a value checks it (`int`), so a command's
/// init is where a bad line is found.
struct ParsedArguments {
    /// The words of the command's name: ["dbg", "distro", "run"].
    var path: [String] = []
    /// Each value option's values in the order given (the last one counts for a single
    /// value), and each flag's name (one entry per time given).
    var values: [String: [String]] = [:]
    var flags: [String: Int] = [:]
    var arguments: [String] = []

    func flag(_ long: String) -> Bool { flags[long] != nil }
    func value(_ long: String) -> String? { values[long]?.last }
    func all(_ long: String) -> [String] { values[long] ?? [] }

    /// A whole number within `range`, or `fallback` when the option was not given.
    func int(_ long: String, _ fallback: Int, in range: ClosedRange<Int>) throws(ValidationError) -> Int {
        guard let text = value(long) else { return fallback }
        return try Self.number(text, "--" + long, in: range)
    }

    /// As int(_:_:in:), nil when not given.
    func int(_ long: String, in range: ClosedRange<Int>) throws(ValidationError) -> Int? {
        guard let text = value(long) else { return nil }
        return try Self.number(text, "--" + long, in: range)
    }

    static func number(_ text: String, _ what: String, in range: ClosedRange<Int>) throws(ValidationError) -> Int {
        guard let number = Int(text), range.contains(number) else {
            throw ValidationError(what + " '" + text + "': expected a number from " + String(range.lowerBound) + " to "
                + String(range.upperBound))
        }
        return number
    }
}

/// Reads a command line against the command tree: which command, its options and
/// arguments. Options are `--name VALUE`, `--name=VALUE`, `-x VALUE`, `-xVALUE` and
/// bundled flags (`-lt`); "--" ends them. The root's options are taken anywhere.
struct CommandLineParser {
    let root: CommandSpec

    enum Outcome {
        case run(CommandSpec, ParsedArguments)
        /// --help (or `dbg help ...`): the command whose help to show.
        case help([CommandSpec])
        /// A group (or dbg itself) without its command: its help, as a mistake.
        case missingCommand([CommandSpec])
        case version
        case manual
        /// A shell completion script for this shell.
        case completion(String)
    }

    func parse(_ words: [String]) throws(ValidationError) -> Outcome {
        var chain = [root]
        var parsed = ParsedArguments(path: [root.name])
        var index = 0
        var optionsEnded = false
        var passthrough: Bool { chain.last!.arguments.last?.count == .passthrough }
        while index < words.count {
            let word = words[index]
            index += 1
            if optionsEnded || (passthrough && !parsed.arguments.isEmpty) {
                parsed.arguments.append(word)
                continue
            }
            if word == "--" {
                optionsEnded = true
                continue
            }
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let attached = body.contains("=") ? String(body.drop { $0 != "=" }.dropFirst()) : nil
                guard let option = find(chain, { $0.long == name }) else { throw unknown(word, chain) }
                try take(option, attached: attached, shown: "--" + name, words, &index, into: &parsed)
                continue
            }
            if word.hasPrefix("-") && word.count > 1 {
                var letters = Substring(word.dropFirst())
                while let letter = letters.first {
                    letters = letters.dropFirst()
                    guard let option = find(chain, { $0.short == letter }) else { throw unknown("-" + String(letter), chain) }
                    if option.value != nil {
                        try take(option, attached: letters.isEmpty ? nil : String(letters), shown: "-" + String(letter), words, &index,
                                 into: &parsed)
                        break
                    }
                    try take(option, attached: nil, shown: "-" + String(letter), words, &index, into: &parsed)
                }
                continue
            }
            if parsed.arguments.isEmpty, let next = chain.last!.subcommand(named: word) {
                chain.append(next)
                parsed.path.append(word)
                continue
            }
            if word == "help" && chain.count == 1 && parsed.arguments.isEmpty {
                return .help(try helpChain(Array(words[index...])))
            }
            parsed.arguments.append(word)
        }
        if parsed.flag("help") { return .help(chain) }
        if parsed.flag("version") { return .version }
        if parsed.flag("manual") { return .manual }
        if let shell = parsed.value("generate-completion-script") { return .completion(shell) }
        let command = chain.last!
        guard command.run != nil else {
            if let word = parsed.arguments.first { throw ValidationError("unknown command '" + word + "'" + seeHelp(chain)) }
            return .missingCommand(chain)
        }
        try check(parsed.arguments, against: command.arguments, chain)
        return .run(command, parsed)
    }

    /// The option named in `chain`: the command's own first, then its parents' (the root's
    /// options are everyone's).
    private func find(_ chain: [CommandSpec], _ matches: (OptionSpec) -> Bool) -> OptionSpec? {
        for command in chain.reversed() {
            if let option = command.options.first(where: matches) { return option }
        }
        return nil
    }

    private func take(_ option: OptionSpec, attached: String?, shown: String, _ words: [String], _ index: inout Int,
                      into parsed: inout ParsedArguments) throws(ValidationError) {
        guard option.value != nil else {
            if attached != nil { throw ValidationError(shown + " takes no value") }
            parsed.flags[option.long, default: 0] += 1
            return
        }
        if let attached {
            parsed.values[option.long, default: []].append(attached)
            return
        }
        guard index < words.count else { throw ValidationError(shown + " needs a value (see dbg --help)") }
        parsed.values[option.long, default: []].append(words[index])
        index += 1
    }

    private func check(_ given: [String], against specs: [ArgumentSpec], _ chain: [CommandSpec]) throws(ValidationError) {
        var left = given.count
        for spec in specs {
            switch spec.count {
            case .one:
                guard left > 0 else { throw ValidationError("missing " + spec.name + seeHelp(chain)) }
                left -= 1
            case .optional:
                left = max(0, left - 1)
            case .many(let least):
                guard left >= least else { throw ValidationError("missing " + spec.name + seeHelp(chain)) }
                left = 0
            case .passthrough:
                left = 0
            }
        }
        if left > 0 { throw ValidationError("unexpected argument '" + given[given.count - left] + "'" + seeHelp(chain)) }
    }

    private func helpChain(_ words: [String]) throws(ValidationError) -> [CommandSpec] {
        var chain = [root]
        for word in words {
            guard let next = chain.last!.subcommand(named: word) else {
                throw ValidationError("no command '" + word + "'" + seeHelp(chain))
            }
            chain.append(next)
        }
        return chain
    }

    private func unknown(_ word: String, _ chain: [CommandSpec]) -> ValidationError {
        ValidationError("unknown option '" + word + "'" + seeHelp(chain))
    }

    private func seeHelp(_ chain: [CommandSpec]) -> String {
        " (see " + chain.map(\.name).joined(separator: " ") + " --help)"
    }
}
