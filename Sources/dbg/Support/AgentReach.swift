import DbgClient

/// Reaching an agent that may not be there yet: a board being flashed or rebooting
/// refuses connections, lets them time out, or (behind a port forward) accepts and resets
/// them for a while. Tries again every 0.2 s until the agent answers a ping or the time
/// is up.
struct AgentReach {
    let target: String
    let timeoutSeconds: Int
    /// For a tls:// target: how its board key is checked.
    var tls: TLSTrust?

    static let retryMs = 200

    /// A connection to an agent that answered; tries for up to `seconds` (0: once).
    func connect(within seconds: Int) throws(ClientError) -> AgentConnection {
        let parsed = try AgentTarget.parse(target)
        let deadline = MonotonicClock.milliseconds() + Int64(seconds) * 1000
        while true {
            do throws(ClientError) {
                // Each try waits at most what is left (and at least a second).
                let left = max(1, Int((deadline - MonotonicClock.milliseconds() + 999) / 1000))
                let connection = try AgentConnection(parsed, timeoutSeconds: seconds > 0 ? min(timeoutSeconds, left) : timeoutSeconds,
                                                     tls: tls)
                if seconds > 0 { _ = try connection.ping() }  // accepted is not answered
                return connection
            } catch {
                let left = deadline - MonotonicClock.milliseconds()
                if seconds == 0 || !AgentReach.isTransient(error) || left <= 0 { throw error }
                MonotonicClock.sleep(milliseconds: min(AgentReach.retryMs, Int(left)))
            }
        }
    }

    /// Not there yet, as opposed to a bad target or an agent that said no.
    static func isTransient(_ error: ClientError) -> Bool {
        switch error {
        case .connect, .io: return true
        case .remote(let code, _, _): return code == .busy
        case .usage, .malformed, .untrusted: return false
        }
    }
}
