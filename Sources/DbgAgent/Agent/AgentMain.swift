import CSys

#if hasFeature(Embedded)
// The firmware's entry: Embedded Swift has no CommandLine, so the C runtime's main hands
// argv over directly. (The host build's entry is Sources/dbgd.)
@_cdecl("main")
func firmwareMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    dbgdMain(argc: argc, argv: argv)
}
#endif

/// The `dbgd` entry point shared by the host and firmware builds.
public func dbgdMain(argc: Int32, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    csys_ensure_stdio()
    let request: CommandLineRequest
    do throws(ConfigError) {
        request = try CommandLineOptions.parse(argc: argc, argv: argv)
    } catch {
        Log.info(error.message)
        return 2
    }
    switch request {
    case .help:
        printToStdout(CommandLineOptions.usage)
        return 0
    case .version:
        printToStdout(AgentVersion.description)
        return 0
    case .run(let config):
        return serve(config)
    }
}

/// Starts the agent and serves until it is told to stop; returns the exit status.
/// --background forks, and the log file is opened, before anything else: start-up errors
/// then reach both the log and whoever started dbgd.
private func serve(_ config: AgentConfig) -> Int32 {
    var notice = StartupNotice()
    if config.background {
        switch StartupNotice.detach() {
        case .foreground(let status): return status
        case .background(let detached): notice = detached
        }
    }
    if let path = config.logFile {
        do throws(ConfigError) {
            Log.file = try LogFile(path: path, limit: config.logSize)
        } catch {
            notice.failed(error.message)
            return 2
        }
    }
    var pidFile: PidFile?
    defer { pidFile?.remove() }
    do throws(StartupError) {
        if let path = config.pidFile { pidFile = try PidFile(claiming: path) }
        let agent = try Agent(config: config)
        return try agent.run { () throws(StartupError) in
            try pidFile?.record()
            notice.serving()
        }
    } catch {
        notice.failed(error.message)
        return 1
    }
}

private func printToStdout(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in _ = try? FileDescriptor(1).write(UnsafeRawBufferPointer(bytes)) }
}
