/// What the service core tells the HTTP front end: work of a connection finished, a
/// process's pipes, a channel shell's PTY or a proxy channel's socket is ready.
extension HTTPFrontEnd {
    /// The slot of `connection` while it is open (not a later connection in its slot).
    private func openSlot(of connection: ConnectionRef) -> Int? {
        let slot = connection.slot
        guard slot >= 0, slot < connections.capacity, connections[slot].isOpen,
              connections[slot].generation == connection.generation else { return nil }
        return slot
    }

    func completionsReady(for connection: ConnectionRef) {
        #if !DBG_NO_CHANNELS
        if connection == sessionHolder { return sharedShellCompletions() }
        #endif
        guard let slot = openSlot(of: connection) else { return }
        while let completion = core.completions.first(of: connection) {
            switch completion.work {
            case .authentication(let index):
                core.completions.remove(completion)
                loginFinished(slot, attempt: index)
            case .processExit(let index):
                guard finishExit(slot, stream: index) else { return pump(slot) }  // waits for room
                core.completions.remove(completion)
            case .appAnswer(let message):
                core.completions.remove(completion)
                #if !DBG_NO_APP
                runtimeMessageDone(slot, message: message)
                #endif
            #if !DBG_NO_DISTRO
            case .distroJob:
                core.completions.remove(completion)
                installFinished(slot)
            #endif
            #if !DBG_NO_CHANNELS
            case .fileJob(let index):
                guard channelFileJobDone(slot, job: index) else { return pump(slot) }  // waits for room
                core.completions.remove(completion)
            #endif
            default:
                core.completions.remove(completion)
            }
        }
        pump(slot)
    }

    /// Only the channel protocol's shells, which the front end itself owns, are here.
    func shellReady(_ shell: Int, of connection: ConnectionRef, _ readiness: Readiness) {
        #if !DBG_NO_CHANNELS
        if connection == sessionHolder { channelShellReady(shell, readiness) }
        #endif
    }

    #if !DBG_NO_FORWARD && !DBG_NO_CHANNELS
    /// A proxy channel's socket: connected, readable, writable, or its end.
    func forwardReady(_ stream: Int, of connection: ConnectionRef) {
        guard let slot = openSlot(of: connection) else { return }
        channelForwardReady(slot, stream: stream)
        pump(slot)
    }
    #endif

    func streamReady(_ stream: Int, of connection: ConnectionRef) {
        guard let slot = openSlot(of: connection) else { return }
        processReady(slot, stream: stream)
        pump(slot)
    }
}
