import DbgClient

/// `dbg wait`: until the agent answers, as adb wait-for-device.
struct Wait: Command {
    static let spec = CommandSpec(
        name: "wait",
        abstract: "Wait until the agent answers (after a flash or a reboot).",
        discussion: """
            Tries again every 0.2 s while the target refuses, times out or resets, until the agent \
            answers (--for reachable) or also accepts the login (--for login). Exits 0 then, and 1 \
            with one line at the timeout; a login refused for a wrong password exits 254 at once. \
            Any other command waits the same way first with --wait SEC.
            """,
        options: [.option("timeout", nil, "SEC", "Seconds to wait at most (default 60)."),
                  .option("for", nil, "WHAT", "reachable: the agent answers (the default); login: and the login succeeds.")])

    let agent: AgentOptions
    let timeout: Int
    let login: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        timeout = try arguments.int("timeout", 60, in: 1...86_400)
        switch arguments.value("for") ?? "reachable" {
        case "reachable": login = false
        case "login": login = true
        case let other: throw ValidationError("--for '" + other + "': expected reachable or login")
        }
    }

    func run() throws {
        let started = MonotonicClock.nanoseconds()
        let reach = AgentReach(target: agent.target, timeoutSeconds: agent.timeoutSeconds, tls: try agent.trust())
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
        guard login else { return }
        // Connected again for the login, within what is left of the time.
        var options = agent
        options.wait = max(1, timeout - Int(MonotonicClock.seconds(since: started)))
        _ = try options.login()
    }
}
