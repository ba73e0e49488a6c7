import ArgumentParser
import DbgClient
import Foundation

/// `dbg wait`: until the agent answers, as adb wait-for-device.
struct Wait: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Wait until the agent answers (after a flash or a reboot).",
        discussion: """
            Tries again every 0.2 s while the target refuses, times out or resets, until the agent \
            answers (--for reachable) or also accepts the login (--for login). Exits 0 then, and 1 \
            with one line at the timeout; a login refused for a wrong password exits 254 at once. \
            Any other command waits the same way first with --wait SEC.
            """)

    enum Condition: String, ExpressibleByArgument, CaseIterable {
        case reachable, login
    }

    @OptionGroup var agent: AgentOptions

    @Option(help: "Seconds to wait at most.")
    var timeout: Int = 60

    @Option(name: .customLong("for"), help: "reachable: the agent answers; login: and the login succeeds.")
    var condition: Condition = .reachable

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds") }
    }

    func run() throws {
        let started = Date()
        let reach = AgentReach(target: agent.target, timeoutSeconds: agent.timeoutSeconds)
        do throws(ClientError) {
            _ = try reach.connect(within: timeout)
        } catch {
            if AgentReach.isTransient(error) {
                Terminal.error("dbg: wait: \(agent.target) did not answer within \(timeout) s (\(error.message))")
                throw ExitCode(ExitStatus.failure)
            }
            Terminal.error("dbg: wait: \(error.message)")
            throw ExitCode(status(of: error))
        }
        guard condition == .login else { return }
        // Connected again for the login, within what is left of the time.
        var options = agent
        options.wait = max(1, timeout - Int(Date().timeIntervalSince(started)))
        _ = try options.login()
    }
}
