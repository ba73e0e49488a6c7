import DbgWire

extension RunningCommand {
    /// Frame size of its answer, dbg's ExecResult or distro's RunResult (the larger).
    var replySize: Int { FrameHeader.size + 8 + 4 + stdout.count + 4 + stderr.count + 2 }
}
