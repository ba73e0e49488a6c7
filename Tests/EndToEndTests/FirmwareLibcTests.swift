import Foundation
import Testing

/// The firmware links its own snprintf and strtol family (Sources/CSys/firmware/small-*.c)
/// instead of musl's. Built here for the host with their symbols renamed, they must
/// behave exactly as glibc's do; snprintf must stop on a conversion it does not have.
@Suite("Firmware's own libc functions against glibc")
struct FirmwareLibcTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Runs `arguments`; its exit status (or 128 + signal) and its output.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, output)
    }

    /// Compiles `source` (a file of Sources/CSys/firmware) with each of `renamed` given the
    /// prefix lite_, links it with `check` (a file of Tests/Firmware), all with UBSan, and
    /// runs `body` with the program's path.
    static func withCheck(source: String, renamed: [String], check: String, _ body: (String) throws -> Void) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("firmware-libc-\(getpid())-\(check)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let object = work.appendingPathComponent("lite.o").path
        let program = work.appendingPathComponent("check").path
        let compile = try run(["clang", "-w", "-O1", "-fsanitize=undefined", "-c"] + renamed.map { "-D\($0)=lite_\($0)" }
            + [root.appendingPathComponent("Sources/CSys/firmware/\(source)").path, "-o", object])
        try #require(compile.status == 0, "\(compile.output)")
        let link = try run(["clang", "-w", "-O1", "-fsanitize=undefined",
                            root.appendingPathComponent("Tests/Firmware/\(check)").path, object, "-o", program])
        try #require(link.status == 0, "\(link.output)")
        try body(program)
    }

    @Test("snprintf: every conversion the firmware's callers use matches glibc at every buffer size; %f aborts")
    func snprintfMatchesGlibc() throws {
        try Self.withCheck(source: "small-printf.c", renamed: ["snprintf", "vsnprintf", "__assert_fail"],
                           check: "small-printf-check.c") { check in
            let result = try Self.run([check])
            #expect(result.status == 0 && result.output.contains("92 checks, 0 differ from glibc"), "\(result.output)")
            let float = try Self.run([check, "float"])
            #expect(float.status == 128 + SIGABRT && float.output == "dbgd: snprintf: unsupported conversion in \"%f\"\n",
                    "\(float.status): \(float.output)")
        }
    }

    @Test("strtol family: value, errno and end match glibc for the edge cases and 200,000 generated strings")
    func strtolMatchesGlibc() throws {
        try Self.withCheck(source: "small-strtol.c",
                           renamed: ["strtoull", "strtoll", "strtoul", "strtol", "strtoumax", "strtoimax"],
                           check: "small-strtol-check.c") { check in
            let result = try Self.run([check])
            #expect(result.status == 0 && result.output.contains("1202484 checks, 0 differ from glibc"), "\(result.output)")
        }
    }
}
