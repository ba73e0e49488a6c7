import DbgWire

/// AppCall: a JSON-RPC message for the application runtime, carried with a session, so
/// the same calls as on the runtime socket reach it over TCP, Unix sockets and serial
/// lines. The session's user must be one the socket would admit (root, --rpc-group).
extension DbgService {
    func appCall(_ call: Dbg.AppCallRequest, _ request: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: call.token, on: connection)
        guard let app else {
            throw ServiceError(.unsupported, "the application runtime is off (start dbgd with --app-dir)")
        }
        let caller = AppCaller(uid: session.user.account.uid, groups: session.user.account.groups)
        guard app.mayCall(caller) else { throw AppFailure.notAllowed }
        let submitted = call.message.withUnsafeBytes { message in
            app.submit(message, caller: caller, owner: ReplyAddress(connection: connection.ref, request: request))
        }
        if case .answer(let text) = submitted { try answerApp(request, text ?? [], &connection) }
    }

    /// The answer to an AppCall whose calls have finished; false while it has no room.
    func deliverAppAnswer(_ slot: Int, _ connection: inout Connection) -> Bool {
        guard let app else { return true }
        let text = app.answerText(slot) ?? []
        guard connection.transmit.reserveWritable(text.count + Connection.answerRoom) else { return false }
        let request = app.messages[slot].owner.request
        app.release(slot)
        do throws(ServiceError) {
            try answerApp(request, text, &connection)
        } catch {
            connection.fail(request, error)
        }
        return true
    }

    private func answerApp(_ request: FrameHeader, _ text: [UInt8], _ connection: inout Connection) throws(ServiceError) {
        guard text.count + 16 <= Int(maxFrame) else {
            throw ServiceError(.tooLarge, "the answer has " + String(text.count) + " bytes, more than a frame holds (--max-frame)")
        }
        connection.respond(to: request, with: Dbg.AppCallResult(message: WireBytes(text)))
    }
}
