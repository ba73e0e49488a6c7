#if !DBG_NO_FLASH
import DbgWire

/// The flash ops (0x0670 and up): FlashOpen, FlashWrite, FlashVerify and FlashFinish,
/// through the core's `Flasher`; every one is answered when the flash thread has done
/// it, with FlashProgress events before the answer of a long step.
extension DbgService {
    func handleFlash(_ op: Dbg.Op, _ request: Request, _ connection: inout Connection) {
        switch op {
        case .flashOpen: serve(Dbg.FlashOpenRequest.self, request, &connection, openFlash)
        case .flashWrite: serve(Dbg.FlashWriteRequest.self, request, &connection, writeFlash)
        case .flashVerify: serve(Dbg.FlashVerifyRequest.self, request, &connection, verifyFlash)
        default: serve(Dbg.FlashFinishRequest.self, request, &connection, finishFlash)
        }
    }

    private func openFlash(_ request: Dbg.FlashOpenRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        guard !request.device.isEmpty, request.device.count <= 4096, !request.device.bytes.contains(0) else {
            throw ServiceError(.badRequest, "Device: empty, too long or with a NUL byte")
        }
        let device = String(decoding: request.device.bytes, as: UTF8.self)
        try core.flasher.open(request, device: device, as: session.user.account, session: session.serial,
                              reply: ReplyAddress(connection: connection.ref, request: header))
    }

    private func writeFlash(_ request: Dbg.FlashWriteRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        try core.flasher.write(request, session: session.serial, reply: ReplyAddress(connection: connection.ref, request: header))
    }

    private func verifyFlash(_ request: Dbg.FlashVerifyRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        try core.flasher.verify(request, session: session.serial, reply: ReplyAddress(connection: connection.ref, request: header))
    }

    private func finishFlash(_ request: Dbg.FlashFinishRequest, _ header: FrameHeader, _ connection: inout Connection) throws(ServiceError) {
        let session = try session(for: request.token, on: connection)
        try core.flasher.finish(request, session: session.serial, reply: ReplyAddress(connection: connection.ref, request: header))
    }

    /// A flash entry's progress event and, once it is done, its answer.
    func deliverFlash(_ index: Int, _ connection: inout Connection) -> Bool {
        guard connection.transmit.reserveWritable(Connection.answerRoom) else { return false }
        let (reply, progress, answer) = core.flasher.take(index)
        if let progress { _ = connection.emit(service: ServiceID.dbg, op: Dbg.Event.flashProgress.rawValue, progress) }
        switch answer {
        case .success(.opened(let opened)): connection.respond(to: reply.request, with: opened)
        case .success(.written(let taken)): connection.respond(to: reply.request, with: Dbg.FlashWriteResult(written: taken))
        case .success(.digest(let digest, let length)):
            connection.respond(to: reply.request, with: Dbg.HashResult(digest: WireBytes(digest), length: length))
        case .success(.finished(let result)): connection.respond(to: reply.request, with: result)
        case .failure(let error): connection.fail(reply.request, error)
        case nil: break
        }
        return true
    }
}
#endif
