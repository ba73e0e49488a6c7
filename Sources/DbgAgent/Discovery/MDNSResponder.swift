import CSys
import DbgPlatform
import DbgWire

/// Multicast DNS for the dbg service (--mdns; RFC 6762 and 6763): answers PTR queries for
/// `_dbg._tcp.local` with the instance's SRV, TXT and the host's A and AAAA records. At
/// start it probes its names (three queries, 250 ms apart) and takes another name on a
/// conflict ("board (2)", "board-2.local"), then announces twice, 1 s apart; again when an
/// address changes; and says goodbye (TTL 0) at shutdown. Packets come from anyone on the
/// link: they are parsed with every length checked, only from this host's subnets, and
/// multicast answers go out at most once a second; one 9,000-byte buffer serves them all.
final class MDNSResponder {
    static let port: UInt16 = 5353
    static let packetBytes = 9000

    private enum Phase {
        case probing(sent: Int)
        case announcing(sent: Int)
        case serving
    }

    let socket: FileDescriptor
    private let watch: FileDescriptor?
    private let identity: BoardIdentity
    private let servicePort: UInt16
    private var instance: [UInt8]
    private var host: [UInt8]
    private var renames = 0
    private var phase = Phase.probing(sent: 0)
    private var due: Milliseconds
    private var lastMulticastAnswer: Milliseconds = 0
    private var interfaces: [csys_interface_address] = []
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: MDNSResponder.packetBytes, alignment: 8)

    static let service = DNSName("_dbg._tcp.local")
    static let serviceList = DNSName("_services._dns-sd._udp.local")

    init(identity: BoardIdentity, servicePort: UInt16) throws(StartupError) {
        let raw = csys_mdns_socket(Int32(MDNSResponder.port))
        guard raw >= 0 else { throw StartupError("--mdns: cannot bind UDP port 5353: \(Errno.current.message)") }
        socket = FileDescriptor(raw)
        let watching = csys_address_watch_socket()
        watch = watching >= 0 ? FileDescriptor(watching) : nil
        self.identity = identity
        self.servicePort = servicePort
        instance = identity.instance
        host = identity.host
        // The first probe waits 0-250 ms, so that boards powered on together do not collide.
        var jitter: UInt8 = 0
        _ = csys_random_bytes(&jitter, 1)
        due = MonotonicClock.now() + Milliseconds(jitter)
        refreshInterfaces()
    }

    deinit { buffer.deallocate() }

    func register(with loop: EventLoop) throws(Errno) {
        try loop.add(socket, .readable, EventToken(loop.register { _, _ in self.received() }))
        if let watch { try loop.add(watch, .readable, EventToken(loop.register { _, _ in self.addressesChanged() })) }
    }

    var instanceName: DNSName { DNSName(instance, MDNSResponder.service) }
    var hostName: DNSName { DNSName(labels: [host, Array("local".utf8)]) }

    // MARK: Time: probes, announcements

    /// Does what is due; the next deadline.
    func expire(now: Milliseconds) -> Milliseconds? {
        guard now >= due else { return due }
        switch phase {
        case .probing(let sent) where sent < 3:
            multicast(probe())
            phase = .probing(sent: sent + 1)
            due = now + 250
        case .probing:
            phase = .announcing(sent: 0)
            due = now
            return expire(now: now)
        case .announcing(let sent) where sent < 2:
            multicast(announcement(ttlScale: 1))
            phase = .announcing(sent: sent + 1)
            due = now + 1000
        case .announcing:
            phase = .serving
            Log.info("mdns: announced as " + instanceName.text + " on " + hostName.text)
            return nil
        case .serving:
            return nil
        }
        return due
    }

    /// Goodbye: every record with TTL 0, so that browsers forget the board at once.
    func shutdown() {
        if case .serving = phase { multicast(announcement(ttlScale: 0)) }
        socket.close()
        watch?.close()
    }

    private func addressesChanged() {
        guard let watch else { return }
        while (try? watch.read(into: buffer)) ?? 0 > 0 {}
        refreshInterfaces()
        if case .serving = phase {
            phase = .announcing(sent: 0)
            due = MonotonicClock.now()
        }
    }

    private func refreshInterfaces() {
        var found = [csys_interface_address](repeating: csys_interface_address(), count: 32)
        let count = csys_interface_addresses(&found, Int32(found.count))
        interfaces = count > 0 ? Array(found.prefix(Int(count))) : []
        for entry in interfaces where entry.family == CSYS_AF_INET {
            var address = entry.address
            _ = withUnsafeBytes(of: &address) { csys_mdns_join(socket.rawValue, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        }
    }

    // MARK: Packets

    private func received() {
        for _ in 0..<32 {  // a bounded batch per event: the loop has other work
            var source: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
            var port: UInt16 = 0
            var index: UInt32 = 0
            let count = withUnsafeMutableBytes(of: &source) {
                csys_mdns_receive(socket.rawValue, buffer.baseAddress, buffer.count,
                                  $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &port, &index)
            }
            if count < 0 { return }
            let from = [source.0, source.1, source.2, source.3]
            guard count > 0, onLink(from),
                  let message = try? DNSMessage.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) else { continue }
            if message.isResponse {
                // Our own announcements come back (multicast loopback): not a conflict.
                if !isOwn(from) { checkConflict(message.answers + message.additionals) }
            } else {
                if case .probing = phase, !isOwn(from) { checkSimultaneousProbe(message) }
                answer(message, from: from, port: port, interface: index)
            }
        }
    }

    /// Whether an IPv4 source is in the subnet of one of this host's interfaces: mDNS
    /// is link-local, and answering beyond the link would make the agent a reflector.
    private func onLink(_ address: [UInt8]) -> Bool {
        interfaces.contains { entry in
            guard entry.family == CSYS_AF_INET else { return false }
            let mine = withUnsafeBytes(of: entry.address) { Array($0.prefix(4)) }
            let mask = withUnsafeBytes(of: entry.netmask) { Array($0.prefix(4)) }
            return (0..<4).allSatisfy { mine[$0] & mask[$0] == address[$0] & mask[$0] }
        }
    }

    private func isOwn(_ address: [UInt8]) -> Bool {
        interfaces.contains { entry in
            entry.family == CSYS_AF_INET && withUnsafeBytes(of: entry.address) { Array($0.prefix(4)) } == address
        }
    }

    private func answer(_ query: DNSMessage, from: [UInt8], port: UInt16, interface: UInt32) {
        if case .probing = phase { return }
        var response = DNSMessage()
        response.flags = DNSMessage.responseFlags
        var additional = false
        var unicastAsked = true
        for question in query.questions {
            unicastAsked = unicastAsked && question.unicastResponse
            let type = question.type
            let any = type == DNSType.any
            if question.name == MDNSResponder.service && (type == DNSType.pointer || any) {
                response.answers.append(pointerRecord(ttlScale: 1))
                additional = true
            } else if question.name == MDNSResponder.serviceList && (type == DNSType.pointer || any) {
                response.answers.append(DNSRecord(name: MDNSResponder.serviceList, type: DNSType.pointer, cacheFlush: false,
                                                  ttl: 4500, data: .pointer(MDNSResponder.service)))
            } else if question.name == instanceName {
                if type == DNSType.service || any { response.answers.append(serviceRecord(ttlScale: 1)) }
                if type == DNSType.text || any { response.answers.append(textRecord(ttlScale: 1)) }
                additional = additional || type == DNSType.service || any
            } else if question.name == hostName {
                response.answers += addressRecords(ttlScale: 1).filter { any || $0.type == type }
            }
        }
        guard !response.answers.isEmpty else { return }
        if additional {
            response.additionals = [serviceRecord(ttlScale: 1), textRecord(ttlScale: 1)] + addressRecords(ttlScale: 1)
            response.additionals.removeAll { record in response.answers.contains { $0.type == record.type && $0.name == record.name } }
        }
        if port != MDNSResponder.port {
            // A legacy (one-shot) query: a plain DNS answer back to its port, short TTLs.
            response.id = query.id
            response.questions = query.questions
            for index in response.answers.indices {
                response.answers[index].ttl = min(response.answers[index].ttl, 10)
                response.answers[index].cacheFlush = false
            }
            for index in response.additionals.indices {
                response.additionals[index].ttl = min(response.additionals[index].ttl, 10)
                response.additionals[index].cacheFlush = false
            }
            send(response, to: from, port: port, interface: interface)
        } else if unicastAsked {
            send(response, to: from, port: MDNSResponder.port, interface: interface)
        } else {
            let now = MonotonicClock.now()
            guard now >= lastMulticastAnswer + 1000 else { return }
            lastMulticastAnswer = now
            send(response, to: nil, port: MDNSResponder.port, interface: interface)
        }
    }

    // MARK: Conflicts

    /// Another host answering for one of our unique names with other data: take another name.
    private func checkConflict(_ records: [DNSRecord]) {
        for record in records {
            let ours: [DNSRecord]
            if record.name == instanceName && (record.type == DNSType.service || record.type == DNSType.text) {
                ours = [serviceRecord(ttlScale: 1), textRecord(ttlScale: 1)]
            } else if record.name == hostName && (record.type == DNSType.a || record.type == DNSType.aaaa) {
                ours = addressRecords(ttlScale: 1)
            } else {
                continue
            }
            if !ours.contains(where: { $0.type == record.type && $0.data == record.data }) {
                rename(hostConflict: record.name == hostName)
                return
            }
        }
    }

    /// Two hosts probing for the same name at once: the one whose records sort later wins
    /// (RFC 6762, 8.2); the other takes another name.
    private func checkSimultaneousProbe(_ query: DNSMessage) {
        for record in query.authorities where record.name == instanceName && record.type == DNSType.service {
            let theirs = DNSMessage.encodedData(record)
            let mine = DNSMessage.encodedData(serviceRecord(ttlScale: 1))
            if theirs.lexicographicallyPrecedes(mine) || theirs == mine { return }
            rename(hostConflict: false)
            return
        }
    }

    private func rename(hostConflict: Bool) {
        renames += 1
        guard renames <= 50 else { return }  // a hostile network could rename forever
        let suffix = String(renames + 1)
        if hostConflict {
            host = Array((identity.host.prefix(60)) + Array(("-" + suffix).utf8))
        } else {
            instance = Array(identity.instance.prefix(56)) + Array((" (" + suffix + ")").utf8)
        }
        Log.info("mdns: name in use on the network; probing " + (hostConflict ? hostName.text : instanceName.text))
        phase = .probing(sent: 0)
        due = MonotonicClock.now() + 1000
    }

    // MARK: Records

    private func scaled(_ ttl: UInt32, _ scale: UInt32) -> UInt32 { ttl * scale }

    private func pointerRecord(ttlScale: UInt32) -> DNSRecord {
        DNSRecord(name: MDNSResponder.service, type: DNSType.pointer, cacheFlush: false, ttl: scaled(4500, ttlScale),
                  data: .pointer(instanceName))
    }

    private func serviceRecord(ttlScale: UInt32) -> DNSRecord {
        DNSRecord(name: instanceName, type: DNSType.service, cacheFlush: true, ttl: scaled(120, ttlScale),
                  data: .service(priority: 0, weight: 0, port: servicePort, target: hostName))
    }

    private func textRecord(ttlScale: UInt32) -> DNSRecord {
        DNSRecord(name: instanceName, type: DNSType.text, cacheFlush: true, ttl: scaled(4500, ttlScale), data: .text(identity.text))
    }

    private func addressRecords(ttlScale: UInt32) -> [DNSRecord] {
        interfaces.map { entry in
            let ipv4 = entry.family == CSYS_AF_INET
            let bytes = withUnsafeBytes(of: entry.address) { Array($0.prefix(ipv4 ? 4 : 16)) }
            return DNSRecord(name: hostName, type: ipv4 ? DNSType.a : DNSType.aaaa, cacheFlush: true, ttl: scaled(120, ttlScale),
                             data: .address(bytes))
        }
    }

    private func probe() -> DNSMessage {
        var message = DNSMessage()
        message.questions = [DNSQuestion(name: instanceName, type: DNSType.any, unicastResponse: true),
                             DNSQuestion(name: hostName, type: DNSType.any, unicastResponse: true)]
        message.authorities = [serviceRecord(ttlScale: 1), textRecord(ttlScale: 1)] + addressRecords(ttlScale: 1)
        return message
    }

    private func announcement(ttlScale: UInt32) -> DNSMessage {
        var message = DNSMessage()
        message.flags = DNSMessage.responseFlags
        message.answers = [pointerRecord(ttlScale: ttlScale), serviceRecord(ttlScale: ttlScale), textRecord(ttlScale: ttlScale)]
            + addressRecords(ttlScale: ttlScale)
        return message
    }

    /// Out of every IPv4 interface.
    private func multicast(_ message: DNSMessage) {
        for entry in interfaces where entry.family == CSYS_AF_INET { send(message, to: nil, port: MDNSResponder.port, interface: entry.index) }
    }

    private func send(_ message: DNSMessage, to address: [UInt8]?, port: UInt16, interface: UInt32) {
        guard let bytes = message.encode(limit: MDNSResponder.packetBytes) else { return }
        bytes.withUnsafeBytes { packet in
            if let address {
                address.withUnsafeBufferPointer { _ = csys_mdns_send(socket.rawValue, packet.baseAddress, packet.count, $0.baseAddress, port, interface) }
            } else {
                _ = csys_mdns_send(socket.rawValue, packet.baseAddress, packet.count, nil, port, interface)
            }
        }
    }
}
