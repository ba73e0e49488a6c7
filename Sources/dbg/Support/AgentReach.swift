import DbgClient
import Foundation

/// Reaching an agent that may not be there yet: a board being flashed or rebooting
/// refuses connections, lets them time out, or (behind a port forward) accepts and resets
/// them for a while. Tries again every 0.2 s until the agent answers a ping or the time
/// is up.
struct AgentReach {
    let target: String
    let timeoutSeconds: Int

    static let retryInterval: TimeInterval = 0.2

    /// A connection to an agent that answered; tries for up to `seconds` (0: once).
    func connect(within seconds: Int) throws(ClientError) -> AgentConnection {
        let parsed = try AgentTarget.parse(target)
        let deadline = Date(timeIntervalSinceNow: TimeInterval(seconds))
        while true {
            do throws(ClientError) {
                // Each try waits at most what is left (and at least a second).
                let left = max(1, Int(deadline.timeIntervalSinceNow.rounded(.up)))
                let connection = try AgentConnection(parsed, timeoutSeconds: seconds > 0 ? min(timeoutSeconds, left) : timeoutSeconds)
                if seconds > 0 { _ = try connection.ping() }  // accepted is not answered
                return connection
            } catch {
                if seconds == 0 || !AgentReach.isTransient(error) || Date() >= deadline { throw error }
                Thread.sleep(forTimeInterval: min(AgentReach.retryInterval, max(0, deadline.timeIntervalSinceNow)))
            }
        }
    }

    /// Not there yet, as opposed to a bad target or an agent that said no.
    static func isTransient(_ error: ClientError) -> Bool {
        switch error {
        case .connect, .io: return true
        case .remote(let code, _, _): return code == .busy
        case .usage, .malformed: return false
        }
    }
}
