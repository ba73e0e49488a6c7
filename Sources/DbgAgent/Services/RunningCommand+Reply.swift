import DbgWire

extension RunningCommand {
    /// Frame size of its answer, dbg's ExecResult or distro's RunResult (the larger).
    var replySize: Int { FrameHeader.size + 8 + 4 + stdout.count + 4 + stderr.count + 2 }

    /// dbg's answer; its bytes are viewed in place, valid until the slot is released.
    var execResult: Dbg.ExecResult {
        Dbg.ExecResult(exitCode: exitCode, stdout: WireBytes(viewing: stdout.bytes), stderr: WireBytes(viewing: stderr.bytes),
                       stdoutTruncated: stdout.truncated, stderrTruncated: stderr.truncated)
    }

    /// distro's answer, the same way.
    var runResult: Distro.RunResult {
        Distro.RunResult(stdout: WireBytes(viewing: stdout.bytes), stderr: WireBytes(viewing: stderr.bytes), exitCode: exitCode)
    }
}
