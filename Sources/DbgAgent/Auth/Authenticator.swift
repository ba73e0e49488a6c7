import CSys
import DbgWire

/// Why an authentication did not succeed. Clients see one answer for every `rejected`
/// reason (Denied, "authentication failed"); the reason goes to the log.
enum AuthFailure: Error {
    case rejected(String)
    /// Key login: the client's key is not listed for the user. No password was tried,
    /// so it neither counts as a failure nor slows the address down.
    case keyNotListed(String)
    /// The backend itself cannot work (a file it cannot read, PAM misconfigured).
    case unavailable(String)
}

struct AuthenticatedUser {
    var account: UserAccount
    /// Open while the session lives (PAM as root); ended on Logout or disconnect.
    var pam: PAMSession?
    /// Logged in by a client key rather than a password.
    var byKey = false
}

/// The one interface to password checking, with its two backends. Immutable after
/// start-up and shared by the worker threads; every call may block.
final class Authenticator: @unchecked Sendable {
    enum Method: Equatable, Sendable {
        /// Linux-PAM, service `dbgd` (host builds).
        case pam
        /// crypt(3) against the shadow file (firmware builds).
        case shadow

        static var buildDefault: Method {
            #if canImport(CPAM)
            return .pam
            #else
            return .shadow
            #endif
        }

        var name: String { self == .pam ? "pam" : "shadow" }
    }

    static let pamService = "dbgd"

    let method: Method
    let passwdPath: String
    let shadowPath: String
    let groupPath: String
    let allowEmptyPasswords: Bool
    /// --authorized-keys: the system's lists of client keys, one file per user.
    let authorizedKeysDirectory: String
    /// Unknown, locked and expired users are hashed against this, so that they take as
    /// long as the slowest known one.
    private let decoy: DecoyHash

    init(method: Method, passwdPath: String, shadowPath: String, groupPath: String, allowEmptyPasswords: Bool,
         authorizedKeysDirectory: String = AgentConfig.defaultAuthorizedKeys) {
        self.method = method
        self.passwdPath = passwdPath
        self.shadowPath = shadowPath
        self.groupPath = groupPath
        self.allowEmptyPasswords = allowEmptyPasswords
        self.authorizedKeysDirectory = authorizedKeysDirectory
        decoy = DecoyHash(shadowPath: method == .shadow ? shadowPath : nil)
    }

    /// Checks `password` for `username` and looks the user up in the passwd file.
    func authenticate(_ username: [UInt8], _ password: [UInt8], remoteHost: String) throws(AuthFailure) -> AuthenticatedUser {
        var pam: PAMSession?
        switch method {
        case .shadow:
            try checkShadow(username, password)
        case .pam:
            #if canImport(CPAM)
            pam = try PAMSession.login(service: Authenticator.pamService, username: username, password: password,
                                       remoteHost: remoteHost)
            #else
            throw .unavailable("this build has no PAM support; use --auth shadow")
            #endif
        }
        do throws(AuthFailure) {
            return AuthenticatedUser(account: try lookUp(username), pam: pam)
        } catch {
            pam?.end()
            throw error
        }
    }

    /// The passwd entry and groups of a user who passed the password check.
    func lookUp(_ username: [UInt8]) throws(AuthFailure) -> UserAccount {
        var found: UserAccount?
        do throws(Errno) {
            found = try UserAccount.find(username, inPasswd: passwdPath)
        } catch {
            throw .unavailable("cannot read \(passwdPath): \(error.message)")
        }
        guard var account = found else { throw .rejected("no entry in \(passwdPath)") }
        // Commands run as the user only if the agent can switch to them: as root.
        let agentUID = geteuid()
        if agentUID != 0 && account.uid != agentUID {
            throw .rejected("the agent runs as uid \(agentUID) and can only serve that user")
        }
        do throws(Errno) {
            account.groups = try GroupFile.groups(of: username, primary: account.gid, path: groupPath)
        } catch {
            throw .unavailable("cannot read \(groupPath): \(error.message)")
        }
        return account
    }

    private func checkShadow(_ username: [UInt8], _ password: [UInt8]) throws(AuthFailure) {
        let entry: ShadowEntry?
        do throws(Errno) {
            entry = try ShadowEntry.find(username, inShadow: shadowPath)
        } catch {
            throw .unavailable("cannot read \(shadowPath): \(error.message)")
        }
        guard let entry else {
            decoy.waste(password)
            throw .rejected("unknown user")
        }
        switch entry.status(today: csys_today()) {
        case .usable:
            if !PasswordHash.matches(password, entry.hash) { throw .rejected("wrong password") }
        case .emptyPassword:
            guard allowEmptyPasswords else {
                decoy.waste(password)
                throw .rejected("empty password field (see --allow-empty-passwords)")
            }
            if !password.isEmpty { throw .rejected("wrong password") }
        case .locked:
            decoy.waste(password)
            throw .rejected("account locked")
        case .expired:
            decoy.waste(password)
            throw .rejected("account expired")
        }
    }
}
