#if canImport(CPAM)
import CPAM
import CSys
import DbgWire

/// An open PAM transaction: kept for the life of a session when the agent is root
/// (pam_open_session was called), ended with pam_close_session on Logout or disconnect.
struct PAMSession: @unchecked Sendable {
    let handle: OpaquePointer
    let credentialsEstablished: Bool

    /// Runs the whole PAM login for `username`: authenticate with `password` (the only
    /// prompt answered), account management, and when root, credentials and session.
    static func login(
        service: String, username: [UInt8], password: [UInt8], remoteHost: String
    ) throws(AuthFailure) -> PAMSession? {
        let answer = PAMAnswer(password: password)
        let appData = Unmanaged.passRetained(answer)
        defer { appData.release() }
        var conversation = pam_conv(conv: pamConversation, appdata_ptr: appData.toOpaque())
        var handle: OpaquePointer?
        let user = String(decoding: username, as: UTF8.self)
        var status = pam_start(service, user, &conversation, &handle)
        guard status == PAM_SUCCESS, let handle else {
            throw .unavailable("pam_start(\(service)) failed: \(pamMessage(handle, status))")
        }
        _ = pam_set_item(handle, PAM_RHOST, remoteHost)
        func rejection(_ reason: String) -> AuthFailure {  // ends the transaction
            pam_end(handle, status)
            return .rejected(reason)
        }
        status = pam_authenticate(handle, 0)
        guard status == PAM_SUCCESS else { throw rejection("pam_authenticate: \(pamMessage(handle, status))") }
        status = pam_acct_mgmt(handle, 0)
        guard status == PAM_SUCCESS else { throw rejection("pam_acct_mgmt: \(pamMessage(handle, status))") }
        guard geteuid() == 0 else {
            // Credentials and sessions change process-wide state only root may change.
            pam_end(handle, PAM_SUCCESS)
            return nil
        }
        status = pam_setcred(handle, Int32(PAM_ESTABLISH_CRED))
        guard status == PAM_SUCCESS else { throw rejection("pam_setcred: \(pamMessage(handle, status))") }
        status = pam_open_session(handle, 0)
        guard status == PAM_SUCCESS else {
            _ = pam_setcred(handle, Int32(PAM_DELETE_CRED))
            throw rejection("pam_open_session: \(pamMessage(handle, status))")
        }
        return PAMSession(handle: handle, credentialsEstablished: true)
    }

    /// pam_close_session, then drops the credentials and ends the transaction.
    func end() {
        var status = pam_close_session(handle, 0)
        if credentialsEstablished { status = pam_setcred(handle, Int32(PAM_DELETE_CRED)) }
        pam_end(handle, status)
    }
}

/// What the conversation function answers with; freed when the login returns.
private final class PAMAnswer {
    let password: [UInt8]
    init(password: [UInt8]) { self.password = password }
}

/// Answers the password prompt (echo off) with the password from the request; a prompt
/// asking for anything else (echo on: a user name, an OTP) fails the conversation, and
/// informational or error messages are acknowledged with empty replies.
private let pamConversation: @convention(c) (
    Int32, UnsafeMutablePointer<UnsafePointer<pam_message>?>?, UnsafeMutablePointer<UnsafeMutablePointer<pam_response>?>?,
    UnsafeMutableRawPointer?
) -> Int32 = { count, messages, responses, appData in
    guard count > 0, let messages, let responses, let appData else { return PAM_CONV_ERR }
    let answer = Unmanaged<PAMAnswer>.fromOpaque(appData).takeUnretainedValue()
    // PAM frees the array and every resp string with free().
    guard let replies = calloc(Int(count), MemoryLayout<pam_response>.size)?.assumingMemoryBound(to: pam_response.self) else {
        return PAM_BUF_ERR
    }
    for index in 0..<Int(count) {
        guard let message = messages[index]?.pointee else { continue }
        switch message.msg_style {
        case PAM_PROMPT_ECHO_OFF:
            let copy = malloc(answer.password.count + 1)!.assumingMemoryBound(to: CChar.self)
            answer.password.withUnsafeBytes { copy.update(from: $0.bindMemory(to: CChar.self).baseAddress!, count: $0.count) }
            copy[answer.password.count] = 0
            replies[index].resp = copy
        case PAM_ERROR_MSG, PAM_TEXT_INFO:
            break
        default:
            for done in 0..<index where replies[done].resp != nil {
                csys_wipe(replies[done].resp, strlen(replies[done].resp))
                free(replies[done].resp)
            }
            free(replies)
            return PAM_CONV_ERR
        }
    }
    responses.pointee = replies
    return PAM_SUCCESS
}

private func pamMessage(_ handle: OpaquePointer?, _ status: Int32) -> String {
    String(cString: pam_strerror(handle, status))
}
#else
/// The firmware has no PAM: no value of this type is ever made there.
struct PAMSession {
    private init() {}
    func end() {}
}
#endif
