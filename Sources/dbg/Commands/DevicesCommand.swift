import DbgClient

/// `dbg devices`: the boards that answer multicast DNS (dbgd --mdns), as adb devices.
struct Devices: Command {
    static let spec = CommandSpec(
        name: "devices",
        abstract: "List the boards on the local network that answer multicast DNS (dbgd --mdns).",
        discussion: """
            Asks for _dbg._tcp.local once a second out of every multicast interface and lists what \
            answered within --timeout: name, address and port, architecture, agent version and serial \
            number. dbg -H mdns:NAME reaches one by its name, serial number or host name.
            """,
        options: [.option("timeout", nil, "SEC", "Seconds to listen (default 3)."), .json("Print a JSON array.")])

    let seconds: Int
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        seconds = try arguments.int("timeout", 3, in: 1...600)
        json = arguments.flag("json")
    }

    func run() throws {
        let boards = try attempt("devices") { try MDNSBrowser.browse(seconds: Double(seconds)) }.sorted { $0.name < $1.name }
        if json {
            print("[" + boards.map { board in
                #"{"name":\#(jsonString(board.name)),"host":\#(jsonString(board.host)),"addresses":["#
                    + board.addresses.map(jsonString).joined(separator: ",") + #"],"port":\#(board.port),"#
                    + #""arch":\#(jsonString(board.properties["arch"] ?? "")),"version":\#(jsonString(board.properties["version"] ?? "")),"#
                    + #""serial":\#(jsonString(board.serial))}"#
            }.joined(separator: ",") + "]")
            return
        }
        guard !boards.isEmpty else {
            Terminal.error("dbg: devices: no board answered within " + String(seconds) + " s (dbgd answers only with --mdns)")
            return
        }
        let rows = boards.map { board in
            [board.name, (board.addresses.first.map { AgentTarget.tcp(host: $0, port: board.port).description } ?? "-"),
             board.properties["arch"] ?? "-", board.properties["version"] ?? "-", board.serial.isEmpty ? "-" : board.serial]
        }
        let header = ["NAME", "ADDRESS", "ARCH", "VERSION", "SERIAL"]
        let widths = (0..<header.count).map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            print(row.enumerated().map { $0.offset == row.count - 1 ? $0.element : $0.element.rightPadded(widths[$0.offset]) }
                .joined(separator: "  "))
        }
    }
}
