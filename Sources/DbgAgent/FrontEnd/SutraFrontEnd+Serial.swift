import CSys
import DbgPlatform
import DbgWire

/// Serial lines: the tty and the bridge of each line in the loop, link resets from
/// clients, and a device that disappears and comes back (a USB gadget unplugged).
extension SutraFrontEnd {
    /// At start-up: a device that is not there yet is waited for, not an error.
    func openSerialLines() {
        let now = MonotonicClock.now()
        for index in serialLines.indices { openTTY(index, now: now) }
    }

    private func openTTY(_ index: Int, now: Milliseconds) {
        let line = serialLines[index]
        let fd: Int32
        do throws(SystemError) {
            fd = try SerialPort.open(line.spec.path, baud: line.spec.baud)
        } catch {
            if line.reopenAt == nil { Log.info("\(line.description): \(Errno(error.code).message); trying again every second") }
            line.reopenAt = now + SerialLine.reopenIntervalMs
            timer.schedule(line.reopenAt!)
            return
        }
        line.tty = FileDescriptor(fd)
        line.reopenAt = nil
        line.engine = LinkEngine(role: .agent, baud: line.spec.baud)
        line.ttyInterest = nil
        Log.info("\(line.description): open at \(line.spec.baud) baud")
        updateSerialInterest(index, now: now)
    }

    /// The device went away: its connection ends; it is opened again when it is back.
    private func lostTTY(_ index: Int, _ reason: String, now: Milliseconds) {
        let line = serialLines[index]
        guard let tty = line.tty else { return }
        Log.info("\(line.description): \(reason); \(line.countersDescription)")
        loop.remove(tty)
        tty.close()
        line.tty = nil
        line.ttyInterest = nil
        endSerialConnection(index, reason: "\(line.description): \(reason)")
        line.reopenAt = now + SerialLine.reopenIntervalMs
        timer.schedule(line.reopenAt!)
    }

    func serialTTYReady(_ index: Int, _ readiness: Readiness) {
        let line = serialLines[index]
        guard let tty = line.tty else { return }
        let now = MonotonicClock.now()
        if readiness.readable {
            var events: [LinkEngine.Event] = []
            for _ in 0..<4 {  // bounded, so one busy line cannot starve the rest
                let got: Int
                do throws(Errno) {
                    got = try tty.read(into: line.buffer)
                } catch {
                    if error == .wouldBlock { break }
                    return lostTTY(index, "read failed: \(error.message)", now: now)
                }
                if got == 0 { return lostTTY(index, "the device hung up", now: now) }
                events += line.engine.receive(UnsafeRawBufferPointer(rebasing: line.buffer[0..<got]), now: Int64(now))
            }
            for event in events { linkEvent(index, event) }
        }
        pumpSerial(index, now: now)
    }

    private func linkEvent(_ index: Int, _ event: LinkEngine.Event) {
        let line = serialLines[index]
        switch event {
        case .reset:
            endSerialConnection(index, reason: "\(line.description): the client reset the link")
            Log.info("\(line.description): link reset by a client; \(line.countersDescription)")
            startSerialConnection(index)
        case .closed:
            endSerialConnection(index, reason: "\(line.description): the client closed the link")
            Log.info("\(line.description): link closed by the client; \(line.countersDescription)")
        case .opened, .peerLost:
            break  // only a client's engine reports these
        }
    }

    /// A fresh connection for the line's new stream.
    private func startSerialConnection(_ index: Int) {
        let line = serialLines[index]
        var ends: [Int32] = [-1, -1]
        guard csys_socketpair(&ends) == 0 else {
            Log.info("\(line.description): cannot create the bridge: \(Errno.current.message)")
            line.engine.close()
            return
        }
        let slot: Int
        do throws(AdoptFailure) {
            slot = try adopt(FileDescriptor(ends[0]), peer: SocketAddress.serialLine(line.spec.path))
        } catch {
            switch error {
            case .tableFull:
                Log.info("\(line.description): connection table full (\(connections.capacity) connections); link closed")
                FileDescriptor(ends[0]).close()
            case .epoll(let reason):
                Log.info("\(line.description): cannot watch its connection: \(reason.message)")
            }
            FileDescriptor(ends[1]).close()
            line.engine.close()
            return
        }
        line.bridge = FileDescriptor(ends[1])
        line.bridgeInterest = nil
        line.connection = connections[slot].ref
        line.closing = false
        line.pendingToBridge.removeAll()
    }

    /// Ends the line's connection (its sessions, shells and commands with it) and closes
    /// the bridge.
    private func endSerialConnection(_ index: Int, reason: String) {
        let line = serialLines[index]
        if let slot = openSlot(of: line.connection) { close(slot, reason: reason) }
        line.connection = .detached
        if let bridge = line.bridge {
            loop.remove(bridge)
            bridge.close()
        }
        line.bridge = nil
        line.bridgeInterest = nil
        line.pendingToBridge.removeAll()
        line.closing = false
    }

    func serialBridgeReady(_ index: Int, _ readiness: Readiness) {
        pumpSerial(index, now: MonotonicClock.now())
    }

    /// Moves what can move: link → bridge, bridge → link, link → tty; then re-arms the
    /// loop and the timer for this line.
    func pumpSerial(_ index: Int, now: Milliseconds) {
        let line = serialLines[index]
        guard let tty = line.tty else { return }
        if let bridge = line.bridge {
            // Stream bytes that arrived go to the connection.
            while true {
                if line.pendingToBridge.isEmpty {
                    let got = line.engine.readInbound(into: line.buffer)
                    if got == 0 { break }
                    line.pendingToBridge = Array(UnsafeRawBufferPointer(rebasing: line.buffer[0..<got]))
                }
                do throws(Errno) {
                    let count = try line.pendingToBridge.withUnsafeBufferPointer { (bytes) throws(Errno) in
                        try bridge.write(UnsafeRawBufferPointer(bytes))
                    }
                    line.pendingToBridge.removeFirst(count)
                    continue
                } catch {
                    if error != .wouldBlock { line.pendingToBridge.removeAll() }  // the connection is gone
                }
                break
            }
            // The connection's answers go to the link, as far as it takes them.
            while !line.closing, line.engine.outboundRoom > 0 {
                let room = UnsafeMutableRawBufferPointer(rebasing: line.buffer[0..<min(line.buffer.count, line.engine.outboundRoom)])
                do throws(Errno) {
                    let got = try bridge.read(into: room)
                    if got == 0 {
                        line.closing = true  // the connection closed; the client learns it after the last byte
                        break
                    }
                    _ = line.engine.writeOutbound(UnsafeRawBufferPointer(rebasing: room[0..<got]))
                } catch {
                    if error != .wouldBlock { line.closing = true }
                    break
                }
            }
            if line.closing && line.engine.isIdle {
                Log.debug("\(line.description): the connection ended; closing the link")
                line.engine.close()
                endSerialConnection(index, reason: "\(line.description): connection ended")
            }
        }
        // Link packets to the line.
        while true {
            let output = line.engine.lineOutput(now: Int64(now))
            if output.isEmpty { break }
            let written: Int
            do throws(Errno) {
                written = try tty.write(output)
            } catch {
                if error == .wouldBlock { break }
                return lostTTY(index, "write failed: \(error.message)", now: now)
            }
            line.engine.lineWritten(written, now: Int64(now))
            if written < output.count { break }
        }
        // While output waits for the tty, its writability drives the line; the engine's
        // deadlines matter only once it has room (or they would fire in a loop).
        if line.engine.lineOutput(now: Int64(now)).isEmpty, let due = line.engine.nextDeadline() {
            timer.schedule(Milliseconds(max(due, 0)))
        }
        updateSerialInterest(index, now: now)
    }

    private func updateSerialInterest(_ index: Int, now: Milliseconds) {
        let line = serialLines[index]
        if let tty = line.tty {
            var wanted: Interest = .readable
            if !line.engine.lineOutput(now: Int64(now)).isEmpty { wanted.insert(.writable) }
            line.ttyInterest = loop.update(tty, from: line.ttyInterest, to: wanted, EventToken(kinds.serialTTY, index: UInt32(index)))
        }
        if let bridge = line.bridge {
            var wanted = Interest()
            if !line.closing && line.engine.outboundRoom > 0 { wanted.insert(.readable) }
            if !line.pendingToBridge.isEmpty || line.engine.inboundCount > 0 { wanted.insert(.writable) }
            line.bridgeInterest = loop.update(bridge, from: line.bridgeInterest, to: wanted.isEmpty ? nil : wanted,
                                              EventToken(kinds.serialBridge, index: UInt32(index)))
        }
    }

    /// Timer: devices to reopen, retransmissions due. Deadlines not due yet are armed
    /// again (the timer keeps only the earliest one, and forgets it once it fired).
    func expireSerialLines(now: Milliseconds) {
        for index in serialLines.indices {
            let line = serialLines[index]
            if line.tty == nil {
                guard let due = line.reopenAt else { continue }
                if now >= due { openTTY(index, now: now) } else { timer.schedule(due) }
                continue
            }
            // Sends what is due (asking the engine for output prepares it) and re-arms.
            pumpSerial(index, now: now)
        }
    }

    func closeSerialLines() {
        for line in serialLines {
            if let bridge = line.bridge { bridge.close() }
            line.tty?.close()
        }
    }
}
