import DbgClient
import DbgWire
import Glibc

/// `dbg`: the host client.
///
/// Exit status: a remote command's own status for `exec`, `sh` and `shell`; otherwise
/// 0 for success and 1 for a failed operation. 255: the agent cannot be reached or the
/// connection broke; 254: authentication failed; 64: bad usage.
@main
enum DbgCommand {
    static let version = "dbg " + Release.number + " (protocol " + String(Control.protocolVersion) + ")"

    static let root = CommandSpec(
        name: "dbg",
        abstract: "Debug and control a board running dbgd.",
        discussion: """
            The agent is given with -H (or DBG_HOST): HOST[:PORT], [IPv6]:PORT, unix:/PATH, \
            serial:DEVICE[,BAUD], mdns:NAME (a board found by multicast DNS: dbg devices), or a serial port exported by a port server such as ser2net: \
            socket://HOST:PORT[,BAUD] (raw TCP) or rfc2217://HOST:PORT[,BAUD] (telnet, which also sets \
            the port's baud rate); the port defaults to 5037, the baud rate to 115200. The user (-u or DBG_USER) \
            defaults to root. The password comes from --password-file (or DBG_PASSWORD_FILE), then DBG_PASSWORD, \
            then a prompt when stdin is a terminal; never from the command line. --connect-timeout SEC (or \
            DBG_CONNECT_TIMEOUT) bounds connecting and each answer; --wait SEC (or DBG_WAIT) keeps trying that \
            long while the agent cannot be reached yet.

            Boards named in ~/.config/dbg/config (or DBG_CONFIG) are chosen with -b NAME (or DBG_BOARD): \
            see dbg help boards. An option on the command line beats the board's entry, which beats \
            the environment.

            These go before the command or after it: dbg -H board -u tester exec -- id, or \
            dbg exec -H board -u tester -- id. Given in both places, the one after the command counts.

            Exit status: the remote status for exec, sh and shell; otherwise 0 on success and 1 when the \
            operation failed. 255: the agent could not be reached or the connection broke. 254: \
            authentication failed. 64: bad usage.
            """,
        options: AgentOptions.specs + [
            .flag("version", nil, "Print the versions of dbg and of its protocol."),
            .flag("help", "h", "Show this help (dbg COMMAND --help: a command's)."),
            .option("generate-completion-script", nil, "SHELL", "Print a completion script for bash, zsh or fish."),
            OptionSpec(long: "manual", short: nil, value: nil, help: "Print the manual page (roff).", hidden: true),
        ],
        subcommands: [Ping.node, Info.node, Exec.node, Sh.node, Push.node, Pull.node, Ls.node, Stat.node, Mkdir.node, Rm.node,
                      Mv.node, Cat.node, Hash.node, Shell.node, DistroCommand.spec, Wait.node, Boards.node, Devices.node,
                      Connect.node, Disconnect.node, Keygen.node, CopyID.node, AppCommand.spec, ActionCommand.spec, BackupCommand.spec, RPC.node,
                      Flash.node, Reboot.node, Forward.node, Reverse.node, GDBServer.node])

    static func main() {
        exit(run(Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs one command line; the status dbg exits with.
    static func run(_ words: [String]) -> Int32 {
        do {
            switch try CommandLineParser(root: root).parse(words) {
            case .run(let command, let parsed):
                try command.run!(parsed)
            case .help(let chain):
                print(HelpText(chain: chain).text, terminator: "")
            case .missingCommand(let chain):
                writeOut(2, Array(HelpText(chain: chain).text.utf8))
                return ExitStatus.usage
            case .version:
                print(version)
            case .manual:
                print(ManualPage(root: root, version: version).text, terminator: "")
            case .completion(let shell):
                print(try CompletionScript(root: root).script(for: shell), terminator: "")
            }
            return 0
        } catch let error as ValidationError {
            Terminal.error("dbg: " + error.message)
            return ExitStatus.usage
        } catch let failure as LocalFailure {
            Terminal.error("dbg: " + failure.message)
            return ExitStatus.failure
        } catch let exit as ExitCode {
            return exit.status
        } catch {
            Terminal.error("dbg: \(error)")
            return ExitStatus.failure
        }
    }
}
