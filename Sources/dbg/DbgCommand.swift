import ArgumentParser
import DbgWire

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
            The agent is given with -H (or DBG_HOST): HOST[:PORT], [IPv6]:PORT, unix:/PATH or \
            serial:DEVICE[,BAUD]; the port defaults to 5037, the baud rate to 115200. The user (-u or DBG_USER) defaults to root. The password comes from \
            --password-file, then DBG_PASSWORD, then a prompt when stdin is a terminal; never from the \
            command line.

            Exit status: the remote status for exec, sh and shell; otherwise 0 on success and 1 when the \
            operation failed. 255: the agent could not be reached or the connection broke. 254: \
            authentication failed. 64: bad usage.
            """,
        version: "dbg \(Release.number) (protocol \(Control.protocolVersion))",
        subcommands: [Ping.self, Info.self, Exec.self, Sh.self, Push.self, Pull.self, Ls.self, Stat.self, Mkdir.self, Rm.self,
                      Mv.self, Cat.self, Hash.self, Shell.self, DistroCommand.self]
    )
}
