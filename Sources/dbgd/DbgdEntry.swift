import DbgAgent

#if hasFeature(Embedded)
// Embedded Swift has no CommandLine: the C runtime's main hands argv over directly.
@_cdecl("main")
func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    dbgdMain(argc: argc, argv: argv)
}
#else
import Glibc

@main
struct DbgdEntry {
    static func main() {
        exit(dbgdMain(argc: CommandLine.argc, argv: CommandLine.unsafeArgv))
    }
}
#endif
