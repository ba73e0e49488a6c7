import CSys
import DbgWire

/// Key login: the TLS handshake proved the client holds `key`; it logs `username` in
/// when it is listed for them (`AuthorizedKeys`). No PAM conversation (there is no
/// password to give it); with the shadow backend a locked or expired account is refused
/// as for a password.
extension Authenticator {
    func authenticate(_ username: [UInt8], key: [UInt8]) throws(AuthFailure) -> AuthenticatedUser {
        let account: UserAccount
        do throws(AuthFailure) {
            account = try lookUp(username)
        } catch {
            guard case .rejected(let reason) = error else { throw error }
            throw .keyNotListed(reason)
        }
        if method == .shadow {
            let entry: ShadowEntry?
            do throws(Errno) {
                entry = try ShadowEntry.find(username, inShadow: shadowPath)
            } catch {
                throw .unavailable("cannot read \(shadowPath): \(error.message)")
            }
            switch entry?.status(today: csys_today()) {
            case .locked: throw .rejected("account locked")
            case .expired: throw .rejected("account expired")
            case .usable, .emptyPassword, nil: break
            }
        }
        guard AuthorizedKeys(systemDirectory: authorizedKeysDirectory).lists(key, for: account) else {
            throw .keyNotListed("key " + KeyCertificate.fingerprint(point: key) + " is not in the user's authorized_keys")
        }
        return AuthenticatedUser(account: account, pam: nil, byKey: true)
    }
}
