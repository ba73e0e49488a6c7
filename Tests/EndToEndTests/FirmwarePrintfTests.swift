import Foundation
import Testing

/// The firmware links its own snprintf (Sources/CSys/firmware/small-printf.c) instead of
/// musl's. Built here for the host, it must format exactly as glibc does, and stop on a
/// conversion it does not have.
@Suite("Firmware snprintf against glibc")
struct FirmwarePrintfTests {
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

    @Test("every conversion the firmware's callers use matches glibc at every buffer size; %f aborts")
    func matchesGlibc() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("small-printf-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let object = work.appendingPathComponent("small-printf.o").path
        let check = work.appendingPathComponent("check").path
        let compile = try Self.run(["clang", "-w", "-O1", "-fsanitize=undefined", "-c", "-Dsnprintf=lite_snprintf",
                                    "-Dvsnprintf=lite_vsnprintf", "-D__assert_fail=lite_assert_fail",
                                    Self.root.appendingPathComponent("Sources/CSys/firmware/small-printf.c").path, "-o", object])
        #expect(compile.status == 0, "\(compile.output)")
        let link = try Self.run(["clang", "-w", "-O1", "-fsanitize=undefined",
                                 Self.root.appendingPathComponent("Tests/Firmware/small-printf-check.c").path, object, "-o", check])
        try #require(link.status == 0, "\(link.output)")

        let result = try Self.run([check])
        #expect(result.status == 0 && result.output.contains("92 checks, 0 differ from glibc"), "\(result.output)")
        let float = try Self.run([check, "float"])
        #expect(float.status == 128 + SIGABRT && float.output == "dbgd: snprintf: unsupported conversion in \"%f\"\n",
                "\(float.status): \(float.output)")
    }
}
