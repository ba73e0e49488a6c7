import ArgumentParser
import DbgClient
import Foundation
import LineSimulator

/// `dbg flash` of a compressed image over a simulated serial line: what the line carries
/// (both ways, login and answers included) against the compressed file's size.
struct SerialFlashBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serial-flash",
        abstract: "Bytes a serial line carries while dbg flashes a compressed image, against the image's size.",
        discussion: "Starts the agent given with --serial on the line's far end and runs the dbg given against it."
    )

    @Option(help: "The dbgd binary to start.")
    var agent: String

    @Option(help: "More dbgd flags, separated by spaces (accounts that let root in).")
    var agentFlags: String = ""

    @Option(help: "The dbg binary to run.")
    var dbg: String

    @Option(help: "root's password on the agent.")
    var password: String

    @Option(help: "The line rate.")
    var baud: Int = 115_200

    @Option(help: "The compressed image.")
    var image: String

    @Option(help: "The block device to flash.")
    var device: String

    func run() throws {
        let line = try LineSimulator(baud: baud)
        let agentProcess = try startAgent(agent, flags: agentFlags, serving: line)
        defer {
            agentProcess.terminate()
            agentProcess.waitUntilExit()
            line.stop()
        }
        let client = Process()
        client.executableURL = URL(fileURLWithPath: dbg)
        client.arguments = ["-H", "serial:\(line.clientDevice),\(baud)", "-u", "root", "flash", "-q", image, device]
        client.environment = ["DBG_PASSWORD": password, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let start = DispatchTime.now().uptimeNanoseconds
        try client.run()
        client.waitUntilExit()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard client.terminationStatus == 0 else { throw ValidationError("dbg flash over the line failed") }
        let file = (try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int) ?? 1
        let carried = line.statistics.carried
        print("flash_serial_\(baud)_zst: \(String(format: "%.1f", seconds)) s; the line carried \(carried) bytes both ways "
            + "for a \(file)-byte image.zst (\(String(format: "%.3f", Double(carried) / Double(file)))x, login and answers included)")
    }
}
