import CSys
import DbgWire

/// An Authenticate request between its arrival and its answer.
struct AuthAttempt {
    enum State {
        /// Waiting for its turn (see AuthAttempts): its peer's running attempt, the
        /// throttle delay, a free worker.
        case waiting(AuthJob)
        /// Queued for or running on a worker.
        case running
        /// Done; the answer waits for room in the connection's transmit buffer.
        case finished(Result<AuthenticatedUser, AuthFailure>)
    }

    var state: State
    var reply: ReplyAddress
    var peer: PeerKey
    /// For the log.
    var username: String
    /// Arrival order, among waiting attempts.
    var arrival: UInt64 = 0
}

/// The part of an attempt that runs on a worker thread: it owns copies of the
/// credentials (the password is wiped once checked) and carries the result back.
struct AuthJob {
    /// Its slot in AuthAttempts (set when admitted).
    var attempt = -1
    let username: [UInt8]
    var password: [UInt8]
    /// The key the TLS client proved it holds, if any: with an empty password, a key login.
    let clientKey: [UInt8]?
    let remoteHost: String
    var result: Result<AuthenticatedUser, AuthFailure>?

    /// Zeroes the password copy before its memory is freed or reused.
    mutating func wipePassword() {
        password.withUnsafeMutableBytes { csys_wipe($0.baseAddress, $0.count) }
    }
}

/// What the authentication worker threads do.
enum WorkerJob {
    case authenticate(AuthJob)
    case endSession(PAMSession)

    /// Runs on a worker thread; returns whether the loop wants the job back.
    mutating func perform(with authenticator: Authenticator) -> Bool {
        switch self {
        case .authenticate(var job):
            job.result = Result { () throws(AuthFailure) in
                #if !DBG_NO_TLS
                if let key = job.clientKey, job.password.isEmpty {
                    do throws(AuthFailure) {
                        return try authenticator.authenticate(job.username, key: key)
                    } catch {
                        // An account without a password may still log in with the empty one.
                        guard case .keyNotListed = error, authenticator.allowEmptyPasswords else { throw error }
                    }
                }
                #endif
                return try authenticator.authenticate(job.username, job.password, remoteHost: job.remoteHost)
            }
            job.wipePassword()
            self = .authenticate(job)
            return true
        case .endSession(let session):
            session.end()
            return false
        }
    }
}
