import CSys
import DbgWire

/// The `shell` service of the channel protocol (also `shellrun2`): the user's login shell
/// on a PTY, as a shell of the process host that the front end itself owns
/// (`sessionHolder`), so that it outlives its channels. openChan with a name joins the
/// user's shell of that name (ATTACH, ATTACH_OR_CREATE); its output goes to every channel
/// attached, read only while each of their connections has room (the slowest sets the
/// pace, nothing is dropped); `input`, `resizeTerm`, `ptyConfig` and `saneTerm` from any
/// of them reach the one terminal. A shell with no channel attached is not read: its
/// programs wait once the terminal's buffer is full, and the next channel to attach gets
/// what waited. When it exits, each attached channel gets the rest of its output and
/// `state Stopped`.
extension HTTPFrontEnd {
    /// PTY reads per event at most, so that a busy shell cannot hold the loop.
    static let shellReadsPerTurn = 8

    // MARK: Opening and closing

    /// openChan for the shell service: a new shell, or the channel attached to the
    /// user's shell of that name.
    func openShellChannel(_ slot: Int, _ command: API.Command, _ open: API.OpenChannel) {
        var answer = API.OpenChannelRes(id: open.id, state: .error)
        guard let account = webSocketSession(slot)?.user.account else {
            answer.error = "the session has ended (logged out)"
            return reply(slot, to: command, .openChanRes(answer))
        }
        let name = open.name.bytes
        let existing = sharedShells.position(ofUser: account.uid, named: name)
        if let problem = HTTPFrontEnd.shellOpenProblem(open.action, name: name, exists: existing != nil) {
            answer.error = WireBytes(problem)
            return reply(slot, to: command, .openChanRes(answer))
        }
        guard let id = connections[slot].socket.channels?.open(.shell) else {
            answer.error = WireBytes("all " + String(ChannelTable.capacity) + " channels of this connection are open")
            return reply(slot, to: command, .openChanRes(answer))
        }
        let position: Int
        if let existing {
            position = existing
            answer.state = .attached
        } else {
            do throws(ServiceError) {
                position = try startSharedShell(account, name: name)
            } catch {
                if let index = connections[slot].socket.channels?.index(of: id) { connections[slot].socket.channels?.close(at: index) }
                answer.error = WireBytes(error.message)
                return reply(slot, to: command, .openChanRes(answer))
            }
            answer.state = .created
        }
        sharedShells[position].attached.append(SharedShellTable.Attachment(
            slot: slot, generation: connections[slot].generation, channel: id, session: command.session))
        answer.id = id
        reply(slot, to: command, .openChanRes(answer))
        Log.info("'\(account.name)' from \(connections[slot].peer.description) "
            + (answer.state == .created ? "opened" : "attached to") + " shell \(core.processes.shells[sharedShells[position].index].id)"
            + (name.isEmpty ? "" : " '" + Log.printable(WireBytes(name)) + "'") + " on channel \(id)")
        updateShellInterest(position)
    }

    /// Why openChan cannot be served as asked, if it cannot.
    private static func shellOpenProblem(_ action: API.OpenChannel.Action, name: [UInt8], exists: Bool) -> String? {
        if name.count > SharedShellTable.maxNameBytes {
            return "a shell's name is at most " + String(SharedShellTable.maxNameBytes) + " bytes"
        }
        switch action {
        case .create: return exists ? "a shell with this name runs already: ATTACH to it, or choose another name" : nil
        case .attach:
            if name.isEmpty { return "ATTACH needs the name of a shell" }
            return exists ? nil : "no shell with this name runs for this user"
        case .attachOrCreate: return nil
        default: return "openChan: action " + String(action.rawValue) + " is not CREATE, ATTACH or ATTACH_OR_CREATE"
        }
    }

    /// The user's login shell in their home, 24 x 80, added to the table.
    private func startSharedShell(_ account: UserAccount, name: [UInt8]) throws(ServiceError) -> Int {
        let home = Array(account.home.utf8)
        if let problem = DbgService.directoryProblem(home, as: account) { throw problem }
        let spec = UserEnvironment.loginShell(for: account, cwd: home)
        let index: Int
        do throws(ProcessHost.StartError) {
            index = try core.processes.startShell(spec, rows: UInt16(ProcessHost.defaultRows), cols: UInt16(ProcessHost.defaultCols),
                                                  ownerSerial: 0, reply: ReplyAddress(connection: sessionHolder, request: .connectionLevel))
        } catch {
            throw error.serviceError(program: spec.program ?? spec.argv[0], throughShell: true)
        }
        sharedShells.add(SharedShellTable.Shell(index: index, uid: account.uid, name: name))
        return sharedShells.shells.count - 1
    }

    /// closeChan on a shell channel. DISCONNECT takes the channel off a named shell and
    /// leaves it running; CLOSE does the same while other channels are attached, and
    /// hangs the shell up when this was the last one; TRY_CLOSE hangs it up if this is
    /// the only channel attached and does nothing otherwise (NOTHING: the channel stays
    /// open). A shell without a name ends with its channel, whatever the action.
    func closeShellChannel(_ slot: Int, channel id: Int32, _ action: API.CloseChannel.Action) -> API.CloseChannelRes.Status {
        guard let position = sharedShells.position(ofSlot: slot, channel: id) else { return .close }  // the shell has ended
        let alone = sharedShells[position].attached.count == 1
        if action == .tryClose && !alone { return .nothing }
        let keeps = sharedShells[position].name.isEmpty ? false : action == .disconnect || !alone
        detachShell(slot, channel: id, from: position, hangUpIfLast: !keeps)
        return keeps ? .disconnect : .close
    }

    /// Every shell channel of a closing connection is disconnected (a named shell runs
    /// on; an unnamed one is hung up).
    func detachShells(of slot: Int) {
        for position in sharedShells.positions(ofSlot: slot).reversed() {
            for attachment in sharedShells[position].attached where attachment.slot == slot {
                detachShell(slot, channel: attachment.channel, from: position, hangUpIfLast: sharedShells[position].name.isEmpty)
            }
        }
    }

    private func detachShell(_ slot: Int, channel id: Int32, from position: Int, hangUpIfLast: Bool) {
        _ = sharedShells.detach(slot: slot, channel: id, from: position)
        let index = sharedShells[position].index
        if sharedShells[position].attached.isEmpty && hangUpIfLast {
            sharedShells[position].closing = true
            core.processes.hangUp(shell: index)
        }
        updateShellInterest(position)
    }

    // MARK: Input

    /// A message for a shell channel; false when its input waits for room.
    func shellMessage(_ slot: Int, _ command: API.Command, _ body: API.Command.Body) -> Bool {
        guard let position = sharedShells.position(ofSlot: slot, channel: command.channel) else {
            reply(slot, to: command, .error("the shell of this channel has ended: open a new shell channel"))
            return true
        }
        let index = sharedShells[position].index
        let failure: String?
        switch body {
        case .input(let text):
            guard case .running = core.processes.shells[index].state else { return true }  // its exit is on the way
            let taken: Bool
            do throws(Errno) {
                taken = try text.withUnsafeBytes { (bytes) throws(Errno) in try core.processes.writeInput(bytes, toShell: index) }
            } catch {
                reply(slot, to: command, .error(WireBytes("writing to the shell: " + error.message)))
                return true
            }
            guard taken else {
                connections[slot].socket.waitingForRoom = true
                return false
            }
            updateShellInterest(position)
            return true
        case .resizeTerm(let size):
            failure = resizeShell(index, size)
        case .ptyConfig(let config):
            failure = setTerminalMode(index, pipe: config.pipeMode)
        case .saneTerm:
            failure = setTerminalMode(index, pipe: false)
        default:
            failure = "a shell channel takes input, resizeTerm, PTYConfig, saneTerm and ping"
        }
        // Keystrokes and terminal settings are not answered when they take effect (a
        // client sends them by the thousand); a failure is.
        if let failure { reply(slot, to: command, .error(WireBytes(failure))) }
        return true
    }

    private func resizeShell(_ index: Int, _ size: API.ResizeTerm) -> String? {
        do throws(ServiceError) {
            let checked = try ProcessHost.terminalSize(Int64(size.rows), Int64(size.cols))
            do throws(Errno) {
                try core.processes.resize(shell: index, rows: checked.rows, cols: checked.cols)
            } catch {
                return "resizing the terminal: " + error.message
            }
        } catch {
            return error.message
        }
        return nil
    }

    private func setTerminalMode(_ index: Int, pipe: Bool) -> String? {
        do throws(Errno) {
            try core.processes.setTerminalMode(shell: index, pipe: pipe)
        } catch {
            return "setting the terminal's mode: " + error.message
        }
        return nil
    }

    // MARK: Output and exit

    /// A shell's PTY has output, or room for the keystrokes that wait.
    func channelShellReady(_ index: Int, _ readiness: Readiness) {
        guard let position = sharedShells.position(ofShell: index) else { return }
        let attached = sharedShells[position].attached
        if readiness.writable && core.processes.flushInput(ofShell: index) {
            // The messages held back for that room may go on.
            for attachment in attached where isCurrent(attachment) { connections[attachment.slot].socket.waitingForRoom = false }
        }
        if readiness.readable { relayShellOutput(position) }
        updateShellInterest(position)
        for slot in HTTPFrontEnd.distinctSlots(attached.map { $0.slot }) where connections[slot].isOpen { pump(slot) }
    }

    /// After a connection's output moved: the shells it has channels on are read again
    /// if every channel attached has room, and an exit that waited for room is told.
    func shellOutputMoved(_ slot: Int) {
        var exited = false
        for position in sharedShells.positions(ofSlot: slot) {
            if case .exited = core.processes.shells[sharedShells[position].index].state { exited = true }
            updateShellInterest(position)
        }
        if exited { sharedShellCompletions(except: slot) }
    }

    /// Exits of the front end's shells, oldest first; one waiting for room holds the
    /// rest back. The connections written to are flushed, `except` by its own pump.
    func sharedShellCompletions(except current: Int? = nil) {
        var written: [Int] = []
        while let completion = core.completions.first(of: sessionHolder) {
            if case .shellExit(let index) = completion.work {
                guard let slots = finishSharedShell(index) else { break }
                written += slots
            }
            core.completions.remove(completion)
        }
        for slot in HTTPFrontEnd.distinctSlots(written) where slot != current && connections[slot].isOpen { pump(slot) }
    }

    /// A reaped shell: the rest of its output and `state Stopped` to every channel
    /// attached, and its slot freed. Returns the connections written to; nil while one
    /// of them has no room (the exit stays posted).
    private func finishSharedShell(_ index: Int) -> [Int]? {
        guard let position = sharedShells.position(ofShell: index) else {
            core.processes.releaseShell(index)
            return []
        }
        guard relayShellOutput(position) else { return nil }
        let attached = sharedShells[position].attached.filter { isCurrent($0) }
        guard attached.allSatisfy({ hasChannelReplyRoom($0.slot, answers: 2) }) else { return nil }
        var carry = sharedShells[position].carry
        send(outputText.finish(&carry), to: attached)
        for attachment in attached {
            var stopped = API.Command(channel: attachment.channel, session: attachment.session)
            stopped.body = .state(.stopped)
            sendCommand(attachment.slot, stopped)
            // A message waiting for the PTY's room is answered now that there is none.
            connections[attachment.slot].socket.waitingForRoom = false
        }
        sharedShells.remove(at: position)
        core.processes.releaseShell(index)
        return attached.map { $0.slot }
    }

    /// PTY output as `output` to every channel attached, while each has room. Returns
    /// whether the PTY was read empty (or has ended, or nobody is attached).
    @discardableResult
    private func relayShellOutput(_ position: Int) -> Bool {
        let index = sharedShells[position].index
        let attached = sharedShells[position].attached.filter { isCurrent($0) }
        for _ in 0..<HTTPFrontEnd.shellReadsPerTurn {
            guard !attached.isEmpty, !core.processes.shells[index].outputEnded,
                  let master = core.processes.shells[index].master?.descriptor else { return true }
            guard attached.allSatisfy({ hasChannelReplyRoom($0.slot) }) else { return false }
            var carry = sharedShells[position].carry
            let text: UnsafeRawBufferPointer?
            do throws(Errno) {
                text = try outputText.read(from: master, carry: &carry)
            } catch {
                if error == .wouldBlock { return true }
                if error == .interrupted { return false }
                text = nil  // EIO: every slave descriptor is closed
            }
            sharedShells[position].carry = carry
            guard let text else {
                core.processes.outputEnded(ofShell: index)
                return true
            }
            send(text, to: attached)
        }
        return false
    }

    private func send(_ text: UnsafeRawBufferPointer, to attached: [SharedShellTable.Attachment]) {
        guard !text.isEmpty else { return }
        for attachment in attached {
            var output = API.Command(channel: attachment.channel, session: attachment.session)
            output.body = .output(WireBytes(viewing: text))
            sendCommand(attachment.slot, output)
        }
    }

    /// Watches the PTY for output while channels are attached and each of their
    /// connections has room, and for room while keystrokes wait.
    private func updateShellInterest(_ position: Int) {
        let attached = sharedShells[position].attached
        let room = !attached.isEmpty && attached.allSatisfy { isCurrent($0) && hasChannelReplyRoom($0.slot) }
        core.processes.updateInterest(ofShell: sharedShells[position].index, outputRoom: room)
    }

    /// Each slot once, in order.
    private static func distinctSlots(_ slots: [Int]) -> [Int] {
        var distinct: [Int] = []
        for slot in slots where !distinct.contains(slot) { distinct.append(slot) }
        return distinct
    }

    /// Whether the attachment's connection is the one that attached (closing detaches
    /// its channels, so this holds; a check, not a repair).
    private func isCurrent(_ attachment: SharedShellTable.Attachment) -> Bool {
        connections[attachment.slot].isOpen && connections[attachment.slot].generation == attachment.generation
    }
}
