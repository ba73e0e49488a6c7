import ArgumentParser
import DbgWire
import Foundation

/// `dbg`: the host client.
///
/// Exit status: a remote command's own status for `exec`, `sh` and `shell`; otherwise
/// 0 for success and 1 for a failed operation. 255: the agent cannot be reached or the
/// connection broke; 254: authentication failed; 64: bad usage.
@main
struct DbgCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dbg",
        abstract: "Debug and control a board running dbgd.",
        discussion: """
            The agent is given with -H (or DBG_HOST): HOST[:PORT], [IPv6]:PORT, unix:/PATH, \
            serial:DEVICE[,BAUD], or a serial port exported by a port server such as ser2net: \
            socket://HOST:PORT[,BAUD] (raw TCP) or rfc2217://HOST:PORT[,BAUD] (telnet, which also sets \
            the port's baud rate); the port defaults to 5037, the baud rate to 115200. The user (-u or DBG_USER) defaults to root. The password comes from \
            --password-file (or DBG_PASSWORD_FILE), then DBG_PASSWORD, then a prompt when stdin is a terminal; never from the \
            command line. --connect-timeout SEC (or DBG_CONNECT_TIMEOUT) bounds connecting and each answer; \
            --wait SEC (or DBG_WAIT) keeps trying that long while the agent cannot be reached yet.

            Boards named in ~/.config/dbg/config (or DBG_CONFIG) are chosen with -b NAME (or DBG_BOARD): \
            see dbg help boards. An option on the command line beats the board's entry, which beats \
            the environment.

            These go before the command or after it: dbg -H board -u tester exec -- id, or \
            dbg exec -H board -u tester -- id. Given in both places, the one after the command counts.

            Exit status: the remote status for exec, sh and shell; otherwise 0 on success and 1 when the \
            operation failed. 255: the agent could not be reached or the connection broke. 254: \
            authentication failed. 64: bad usage.
            """,
        version: "dbg \(Release.number) (protocol \(Control.protocolVersion))",
        subcommands: [Ping.self, Info.self, Exec.self, Sh.self, Push.self, Pull.self, Ls.self, Stat.self, Mkdir.self, Rm.self,
                      Mv.self, Cat.self, Hash.self, Shell.self, DistroCommand.self, Wait.self, Boards.self]
    )

    /// Takes the target and login options given before the command (LeadingOptions),
    /// then parses and runs the rest.
    static func main() {
        guard let arguments = LeadingOptions.hoist(Array(CommandLine.arguments.dropFirst()), root: DbgCommand.self) else {
            Foundation.exit(ExitStatus.usage)
        }
        main(arguments)
    }
}
