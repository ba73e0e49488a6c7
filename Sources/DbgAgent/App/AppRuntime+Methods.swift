import CSys
import DbgWire

/// The methods of seed 002 (init, exit, start, stop, execute, sandbox, callback, eval)
/// and those users need besides (status, logs, actions): each checks its params and
/// answers at once or leaves a call waiting.
extension AppRuntime {
    enum Step {
        case done(Result<JSONValue, JSONRPC.Failure>)
        /// A call slot waits; `finish` answers it.
        case pending
        /// Never answered, even with an id (callback, as the seed says).
        case silent
    }

    func begin(_ request: JSONRPC.Request, _ waiter: AppCall.Waiter) -> Step {
        do throws(JSONRPC.Failure) {
            let params = try AppParams(request.params, method: request.method)
            switch Array(request.method.utf8) {
            case Array("init".utf8): return try initialize(params, waiter)
            case Array("exit".utf8): return try exit(params, waiter)
            case Array("start".utf8):
                try params.none()
                try AppFailure.refusing { () throws(ServiceError) in try supervisor.start() }
                return .done(.success(.null))
            case Array("stop".utf8):
                try params.none()
                supervisor.stop()
                guard supervisor.isRunning else { return .done(.success(.null)) }
                _ = try AppFailure.refusing { () throws(ServiceError) in try newCall(waiter, .stopping(exitTarget: nil)) }
                return .pending
            case Array("execute".utf8): return try execute(params, waiter, sandbox: false)
            case Array("sandbox".utf8): return try execute(params, waiter, sandbox: true)
            case Array("callback".utf8): return try callback(params)
            case Array("eval".utf8):
                let script = try params.bytes("script")
                try params.only(["script"])
                guard !script.contains(0) else { throw AppFailure.invalidParams("script: contains a NUL byte") }
                return run(waiter, .eval, argv: [Array("/bin/sh".utf8), Array("-c".utf8), script], input: nil,
                           timeoutMs: nil, event: nil)
            case Array("status".utf8):
                try params.none()
                return .done(.success(status()))
            case Array("logs".utf8): return try logs(params, waiter)
            case Array("actions".utf8):
                try params.none()
                return .done(.success(try actions()))
            default:
                throw JSONRPC.Failure(code: JSONRPC.methodNotFound, message: "Method not found: " + request.method)
            }
        } catch {
            return .done(.failure(error))
        }
    }

    /// init {id, kind}: the init hook with the kind (install, update, restore), if there is one.
    private func initialize(_ params: AppParams, _ waiter: AppCall.Waiter) throws(JSONRPC.Failure) -> Step {
        let event = try params.optionalString("id")
        let kind = try params.optionalString("kind")
        if let kind, kind != Array("install".utf8), kind != Array("update".utf8), kind != Array("restore".utf8) {
            throw AppFailure.invalidParams("kind: expected \"install\", \"update\", \"restore\" or null")
        }
        try params.only(["id", "kind"])
        let hook = directory.file("init")
        guard try AppFailure.refusing({ () throws(ServiceError) in try directory.exists(hook) }) else { return .done(.success(.null)) }
        return run(waiter, .hook, argv: [hook] + (kind.map { [$0] } ?? []), input: nil, timeoutMs: nil, event: event)
    }

    /// exit {id, target}: main stops, then the exit hook runs with the target version.
    private func exit(_ params: AppParams, _ waiter: AppCall.Waiter) throws(JSONRPC.Failure) -> Step {
        _ = try params.optionalString("id")
        let target = try params.optionalString("target")
        try params.only(["id", "target"])
        // Stopping first: a main waiting to restart is stopped at once, before any call waits.
        supervisor.stop()
        let index = try AppFailure.refusing { () throws(ServiceError) in
            try newCall(waiter, .stopping(exitTarget: target.map { JSONValue.string($0) } ?? .null))
        }
        if !supervisor.isRunning { runExitHook(index, target: calls[index].exitTarget) }
        return .pending
    }

    /// The exit hook for call `index` (main has stopped), or its answer when there is none.
    func runExitHook(_ index: Int, target: JSONValue) {
        let hook = directory.file("exit")
        do throws(ServiceError) {
            guard try directory.exists(hook) else { return finish(index, .success(.null)) }
            try launch(index, .hook, argv: [hook] + (target.stringBytes.map { [$0] } ?? []), input: nil, timeoutMs: nil, event: nil)
        } catch {
            finish(index, .failure(AppFailure.refusal(error)))
        }
    }

    /// execute and sandbox {id, procedure, input, timeout}, routed by the procedure's path.
    private func execute(_ params: AppParams, _ waiter: AppCall.Waiter, sandbox: Bool) throws(JSONRPC.Failure) -> Step {
        let event = try params.optionalString("id")
        let procedure = try params.bytes("procedure")
        let input = params["input"] ?? .null
        let timeoutMs = try params.timeoutMs()
        try params.only(["id", "procedure", "input", "timeout"])
        let parts = procedure.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map { Array($0) }
        let name = parts.count == 4 ? parts[2] : []
        if procedure == Array("/backup/create".utf8) {
            return try backup(waiter, timeoutMs: timeoutMs, sandbox: sandbox, event: event)
        }
        guard parts.count == 4, parts[0].isEmpty, parts[1] == Array("actions".utf8), AppDirectory.isActionName(name) else {
            throw AppFailure.invalidParams("procedure: expected /backup/create, /actions/NAME/getInput or "
                + "/actions/NAME/run, not " + String(decoding: procedure, as: UTF8.self))
        }
        let run = directory.action(name, "run")
        guard try AppFailure.refusing({ () throws(ServiceError) in try directory.type(of: run) }) == .regular else {
            throw AppFailure.refusal(ServiceError(.notFound, "no action " + String(decoding: name, as: UTF8.self)))
        }
        switch parts[3] {
        case Array("getInput".utf8):
            guard let text = try AppFailure.refusing({ () throws(ServiceError) in try directory.read(directory.action(name, "input.json")) })
            else { return .done(.success(.null)) }
            do throws(JSONError) {
                return .done(.success(try JSONReader.parse(text)))
            } catch {
                throw AppFailure.refusal(ServiceError(.badRequest, "actions/" + String(decoding: name, as: UTF8.self)
                    + "/input.json: " + error.message))
            }
        case Array("run".utf8):
            return self.run(waiter, .action, argv: [run], input: JSONWriter.encode(input), timeoutMs: timeoutMs,
                            event: event, sandbox: sandbox)
        default:
            throw AppFailure.invalidParams("procedure: an action has getInput and run, not "
                + String(decoding: parts[3], as: UTF8.self))
        }
    }

    /// callback {id, args}: the callback hook with args as JSON on stdin; never answered.
    private func callback(_ params: AppParams) throws(JSONRPC.Failure) -> Step {
        guard let id = params["id"], case .number = id else { throw AppFailure.invalidParams("id: expected a number") }
        guard let args = params["args"], case .array = args else { throw AppFailure.invalidParams("args: expected an array") }
        try params.only(["id", "args"])
        let hook = directory.file("callback")
        let step: Step
        do throws(ServiceError) {
            guard try directory.exists(hook) else { throw ServiceError(.notFound, "the application has no callback hook") }
            step = run(.nobody("callback"), .hook, argv: [hook], input: JSONWriter.encode(args), timeoutMs: nil, event: nil)
        } catch {
            step = .done(.failure(AppFailure.refusal(error)))
        }
        // Its failures too are only logged: the seed sends no response.
        if case .done(.failure(let failure)) = step { logUnanswered("callback", failure) }
        return .silent
    }

    /// status: main's state, pid, since, restarts and last exit; where the app and its
    /// backups live.
    func status() -> JSONValue {
        let state: String
        switch supervisor.state {
        case .stopped: state = "stopped"
        case .running: state = "running"
        case .stopping: state = "stopping"
        case .waitingToRestart: state = "restarting"
        }
        var members = [JSONMember("state", .string(state)),
                       JSONMember("pid", supervisor.isRunning ? .integer(Int64(supervisor.pid)) : .null),
                       JSONMember("since", supervisor.sinceWallMs == 0 ? .null : .integer(Int64(supervisor.sinceWallMs))),
                       JSONMember("restarts", .integer(Int64(supervisor.restarts)))]
        members.append(JSONMember("directory", .string(directory.path)))
        members.append(JSONMember("backupDirectory", .string(config.backupDirectory)))
        if let status = supervisor.lastStatus {
            let signal = csys_term_signal(status)
            members.append(JSONMember("lastExit", .object(signal != 0 ? [JSONMember("signal", .integer(Int64(signal)))]
                : [JSONMember("code", .integer(Int64(csys_exit_code(status))))])))
        } else {
            members.append(JSONMember("lastExit", .null))
        }
        return .object(members)
    }

    /// logs {since, limit, follow}: the lines after `since`; with follow, waits for one.
    private func logs(_ params: AppParams, _ waiter: AppCall.Waiter) throws(JSONRPC.Failure) -> Step {
        let since = try params.optionalInteger("since", in: 0...Int64.max) ?? 0
        let limit = Int(try params.optionalInteger("limit", in: 1...10_000) ?? 1000)
        let follow = try params.optionalBool("follow") ?? false
        try params.only(["since", "limit", "follow"])
        guard follow, log.lastSequence <= UInt64(since) else {
            return .done(.success(logs(after: UInt64(since), limit: limit)))
        }
        _ = try AppFailure.refusing { () throws(ServiceError) in
            try newCall(waiter, .following(since: UInt64(since), limit: limit, until: MonotonicClock.now() + AppRuntime.followMs))
        }
        core.timer.schedule(MonotonicClock.now() + AppRuntime.followMs)
        return .pending
    }

    /// {lines: [{seq, time, stream, text, cut}], next, dropped}: `next` is the `since` of
    /// the next call.
    func logs(after since: UInt64, limit: Int) -> JSONValue {
        let lines = log.lines(after: since, limit: limit, maxBytes: maxMessageBytes / 2)
        let items = lines.map { line in
            JSONValue.object([JSONMember("seq", .integer(Int64(line.sequence))), JSONMember("time", .integer(Int64(line.wallMs))),
                              JSONMember("stream", .string(line.stream.name)), JSONMember("text", .string(line.text)),
                              JSONMember("cut", .bool(line.cut))])
        }
        let next = lines.last?.sequence ?? min(since, log.lastSequence)
        return .object([JSONMember("lines", .array(items)), JSONMember("next", .integer(Int64(next))),
                        JSONMember("dropped", .integer(Int64(log.dropped)))])
    }

    /// actions: [{name, input}], input telling whether getInput has a spec.
    private func actions() throws(JSONRPC.Failure) -> JSONValue {
        let names = try AppFailure.refusing { () throws(ServiceError) in try directory.actionNames() }
        var items: [JSONValue] = []
        for name in names {
            let hasInput = try AppFailure.refusing { () throws(ServiceError) in try directory.exists(directory.action(name, "input.json")) }
            items.append(.object([JSONMember("name", .string(name)), JSONMember("input", .bool(hasInput))]))
        }
        return .array(items)
    }
}

extension AppCall {
    /// The target an `exit` call waits to hand its hook.
    var exitTarget: JSONValue {
        if case .stopping(let target?) = work { return target }
        return .null
    }
}

extension JSONValue {
    var stringBytes: [UInt8]? {
        if case .string(let bytes) = self { return bytes }
        return nil
    }
}
