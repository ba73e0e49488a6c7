// libFuzzer target: every message decoder of the wire library. The first byte picks
// the type, the rest is the payload. A payload that decodes must encode back to the
// same bytes (the format has one encoding per value) and decode to the same value.
import DbgWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let payload = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    switch data[0] % 51 {
    case 0: check(Control.HelloRequest.self, payload)
    case 1: check(Control.HelloResponse.self, payload)
    case 2: check(Control.Ping.self, payload)
    case 3: check(Dbg.AuthRequest.self, payload)
    case 4: check(Dbg.SessionInfo.self, payload)
    case 5: check(Dbg.SessionToken.self, payload)
    case 6: check(Dbg.ExecRequest.self, payload)
    case 7: check(Dbg.ExecResult.self, payload)
    case 8: check(Dbg.ShellOpenRequest.self, payload)
    case 9: check(Dbg.ShellInputRequest.self, payload)
    case 10: check(Dbg.ShellResizeRequest.self, payload)
    case 11: check(Dbg.ShellCloseRequest.self, payload)
    case 12: check(Dbg.ReadFileRequest.self, payload)
    case 13: check(Dbg.FileChunk.self, payload)
    case 14: check(Dbg.WriteFileRequest.self, payload)
    case 15: check(Dbg.WriteFileResult.self, payload)
    case 16: check(Dbg.PathRequest.self, payload)
    case 17: check(Dbg.FileInfo.self, payload)
    case 18: check(Dbg.ListDirRequest.self, payload)
    case 19: check(Dbg.DirEntry.self, payload)
    case 20: check(Dbg.DirPage.self, payload)
    case 21: check(Dbg.MkdirRequest.self, payload)
    case 22: check(Dbg.RemoveRequest.self, payload)
    case 23: check(Dbg.RenameRequest.self, payload)
    case 24: check(Dbg.HashRequest.self, payload)
    case 25: check(Dbg.HashResult.self, payload)
    case 26: check(Distro.StatusResponse.self, payload)
    case 27: check(Distro.InstallRequest.self, payload)
    case 28: check(Distro.RunRequest.self, payload)
    case 29: check(Distro.RunResult.self, payload)
    case 30: check(Distro.ShellOpenRequest.self, payload)
    case 31: check(Distro.ShellResizeRequest.self, payload)
    case 32: check(ShellSession.self, payload)
    case 33: check(ShellData.self, payload)
    case 34: check(ShellExitEvent.self, payload)
    case 35: check(ErrorPayload.self, payload)
    case 36: check(Dbg.Argument.self, payload)
    case 37: check(Dbg.ProcessStartRequest.self, payload)
    case 38: check(ProcessStarted.self, payload)
    case 39: check(Dbg.ProcessInputRequest.self, payload)
    case 40: check(Dbg.ProcessRef.self, payload)
    case 41: check(Dbg.ProcessSignalRequest.self, payload)
    case 42: check(Dbg.ProcessResizeRequest.self, payload)
    case 43: check(ProcessData.self, payload)
    case 44: check(ProcessCredit.self, payload)
    case 45: check(ProcessExitEvent.self, payload)
    case 46: check(Distro.RunStartRequest.self, payload)
    case 47: check(Distro.RunRef.self, payload)
    case 48: check(Distro.RunSignalRequest.self, payload)
    case 49: check(Distro.RunResizeRequest.self, payload)
    default: check(Empty.self, payload)
    }
    return 0
}

private func check<M: WireCodable & Equatable>(_: M.Type, _ payload: UnsafeRawBufferPointer) {
    guard let message = try? M.decode(payload: payload, copyingBytes: true) else { return }
    var encoded = [UInt8](repeating: 0, count: payload.count)
    let written = encoded.withUnsafeMutableBytes { raw -> Int in
        var writer = WireWriter(raw)
        try! message.encode(to: &writer)
        return writer.count
    }
    precondition(written == payload.count && encoded.elementsEqual(payload), "\(M.self) does not encode back to its bytes")
    let again = encoded.withUnsafeBytes { try! M.decode(payload: $0, copyingBytes: true) }
    precondition(again == message, "\(M.self) does not decode to the same value")
}
