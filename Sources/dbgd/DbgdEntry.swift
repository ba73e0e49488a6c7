// The host build's entry (SwiftPM). The firmware's is in DbgAgent (AgentMain.swift),
// which CMake builds as one module with it.
import DbgAgent
import Glibc

@main
struct DbgdEntry {
    static func main() {
        exit(dbgdMain(argc: CommandLine.argc, argv: CommandLine.unsafeArgv))
    }
}
