import DbgWire

/// The WebSocket calls that are not processes: `action` and `app-logs` through the
/// application runtime (the same JSON-RPC methods as its socket: execute and logs, with
/// the runtime's own permission check), and `distro-install` through the distro service.
/// Their lines are queued and go out as room allows; the result follows them.
extension HTTPFrontEnd {
    func startAction(_ slot: Int, _ words: [[UInt8]]) {
        guard !words.isEmpty, words.count <= 2 else {
            return finishCall(slot, success: false, message: "action: params are the name and, optionally, the input as JSON text",
                              closeCode: 1008)
        }
        var input = JSONValue.null
        if words.count == 2 {
            do throws(JSONError) {
                input = try JSONReader.parse(words[1], maxDepth: 32, maxBytes: HTTPConnection.messageBytes)
            } catch {
                return finishCall(slot, success: false, message: "action: the input is not JSON: " + error.message, closeCode: 1008)
            }
        }
        let procedure = Array("/actions/".utf8) + words[0] + Array("/run".utf8)
        submitToRuntime(slot, .action, method: "execute", params: [JSONMember("procedure", .string(procedure)), JSONMember("input", input)])
    }

    func startAppLogs(_ slot: Int, since: UInt64) {
        submitToRuntime(slot, .logs(next: since), method: "logs",
                        params: [JSONMember("since", .integer(Int64(since))), JSONMember("follow", .bool(true))])
    }

    private func submitToRuntime(_ slot: Int, _ call: WebSocketState.AppCall, method: String, params: [JSONMember]) {
        #if DBG_NO_APP
        finishCall(slot, success: false, message: "this dbgd was built without the application runtime (DBG_APP=OFF)")
        #else
        guard let app else { return finishCall(slot, success: false, message: "the application runtime is off on this agent") }
        guard let account = sessionAccount(slot) else { return }
        let request = JSONWriter.encode(.object([JSONMember("jsonrpc", .string("2.0")), JSONMember("id", .integer(1)),
                                                 JSONMember("method", .string(method)), JSONMember("params", .object(params))]))
        let submitted = request.withUnsafeBytes {
            app.submit($0, caller: AppCaller(uid: account.uid, groups: account.groups),
                       owner: ReplyAddress(connection: ref(slot), request: .connectionLevel))
        }
        switch submitted {
        case .answer(let text):
            connections[slot].socket.stage = .app(call, message: nil)
            runtimeAnswered(slot, text ?? [])
        case .pending(let message):
            connections[slot].socket.stage = .app(call, message: message)
        }
        #endif
    }

    #if !DBG_NO_APP
    /// `.appAnswer(message)`: the answer of this connection's call (another, from a
    /// call that ended, is only freed).
    func runtimeMessageDone(_ slot: Int, message: Int) {
        guard let app else { return }
        let text = app.answerText(message)
        app.release(message)
        guard case .app(let call, message: message) = connections[slot].socket.stage else { return }
        connections[slot].socket.stage = .app(call, message: nil)
        runtimeAnswered(slot, text ?? [])
    }
    #endif

    /// A JSON-RPC response: its lines queued, or its error as the result.
    private func runtimeAnswered(_ slot: Int, _ text: [UInt8]) {
        guard case .app(let call, _) = connections[slot].socket.stage else { return }
        let response = try? JSONReader.parse(text)
        guard let result = response?["result"] else {
            let message = response?["error"]?["message"]?.stringValue ?? "the runtime gave no answer"
            return finishCall(slot, success: false, message: message)
        }
        switch call {
        case .action:
            // The action's result JSON is the last line.
            connections[slot].socket.queued.append(JSONWriter.encode(result))
            connections[slot].socket.resultAfterQueue = true
        case .logs:
            if case .array(let lines)? = result["lines"] {
                for line in lines { if case .string(let text)? = line["text"] { connections[slot].socket.queued.append(text) } }
            }
            let next = result["next"]?.integerValue.map { UInt64(max(0, $0)) } ?? 0
            connections[slot].socket.stage = .app(.logs(next: next), message: nil)
        }
        queuedMoved(slot)
    }

    /// Queued lines went out as far as room allowed; once all are: the result, or the
    /// next round of a followed log.
    func queuedMoved(_ slot: Int) {
        guard connections[slot].socket.closeSent == false, connections[slot].sendQueued() else { return }
        if let success = connections[slot].socket.resultAfterQueue {
            connections[slot].socket.resultAfterQueue = nil
            return finishCall(slot, success: success)
        }
        if case .app(.logs(let next), message: nil) = connections[slot].socket.stage { startAppLogs(slot, since: next) }
    }

    #if !DBG_NO_DISTRO
    // MARK: distro-install

    func startInstall(_ slot: Int, _ words: [[UInt8]]) {
        guard words.count <= 1 else {
            return finishCall(slot, success: false, message: "distro-install: params are the URL (none: --distro-url)", closeCode: 1008)
        }
        guard let uid = sessionAccount(slot)?.uid else { return }
        guard uid == 0 else {
            return finishCall(slot, success: false, message: "distro-install needs uid 0 (the caller is uid " + String(uid) + ")")
        }
        do throws(ServiceError) {
            let source = try distro.startInstall(words.first ?? [], reply: ReplyAddress(connection: ref(slot), request: .connectionLevel))
            connections[slot].socket.stage = .installing
            connections[slot].socket.queued.append(Array(("installing " + source + " into " + distro.root.description).utf8))
            queuedMoved(slot)
        } catch {
            finishCall(slot, success: false, message: error.message)
        }
    }

    /// `.distroJob`: the install ended.
    func installFinished(_ slot: Int) {
        guard connections[slot].socket.stage == .installing, let result = distro.takeFinished(for: ref(slot)) else { return }
        switch result {
        case .success:
            connections[slot].socket.queued.append(Array(("installed into " + distro.root.description).utf8))
            connections[slot].socket.resultAfterQueue = true
            queuedMoved(slot)
        case .failure(let error):
            finishCall(slot, success: false, message: connections[slot].socket.cancelled ? "cancelled" : error.message)
        }
    }
    #endif
}
