import DbgClient
import DbgWire
import Glibc

/// `dbg flash IMAGE DEVICE`: writes a disk image to a block device on the board.
struct Flash: Command {
    static let spec = CommandSpec(
        name: "flash", abstract: "Write a disk image (raw, .gz, .xz, .zst) to a block device on the board, verified.",
        discussion: """
            DEVICE is a block device or partition on the board (/dev/mmcblk0, /dev/sda, /dev/nvme0n1p2); \
            flashing needs root there. The agent refuses a device that is mounted (it or one of its partitions), \
            that holds its own root file system or a swap area (--force flashes it anyway), or that is smaller \
            than the image (always). One flash runs on a board at a time.

            The image's format is told by its first bytes. Without --bmap a compressed image is sent as it is \
            and decoded on the board (the fewest bytes on the wire: the choice for serial lines and slow links); \
            this host decodes it once first to learn its size. With --bmap FILE (a block map from bmaptool \
            create) only the mapped ranges are sent, decoded here, and the board reads each one back and checks \
            it against the map's SHA-256. --discard zeroes the image's extent on the device first (a discard \
            where the device has one), so that blocks of zeros need not be sent or written.

            The board takes the image's bytes into its SHA-256 as it writes them; dbg compares it with what \
            it sent. --verify also reads everything written back from the device after the final flush. \
            Interrupted (Ctrl-C) or cut off, the device is left partially written: dbg says how far it got \
            and the image must be flashed again.
            """,
        options: [
            .option("bmap", nil, "FILE", "A bmaptool block map: send only the mapped ranges, each checked on the board."),
            .flag("verify", nil, "Read everything written back from the device at the end and compare."),
            .flag("discard", nil, "Zero (discard) the image's extent first; blocks of zeros are then skipped."),
            .flag("force", nil, "Flash a device that is mounted, holds the board's root or is swap."),
            .option("decode", nil, "WHERE", "Where a compressed image is decoded: board (default without --bmap) or host."),
            .flag("reboot", nil, "Reboot the board once the image is written and checked."),
            .flag("quiet", "q", "No progress line."),
            .json("Print a JSON summary (image, device, mode, bytes, seconds, rates, verified)."),
        ],
        arguments: [.one("IMAGE", "The image file."), .one("DEVICE", "The block device on the board.")])

    let agent: AgentOptions
    let image: String
    let device: String
    let bmapPath: String?
    let verify: Bool
    let discard: Bool
    let force: Bool
    let decodeOnBoard: Bool?
    let reboot: Bool
    let quiet: Bool
    let json: Bool

    init(_ arguments: ParsedArguments) throws {
        agent = try AgentOptions(arguments)
        image = arguments.arguments[0]
        device = arguments.arguments[1]
        bmapPath = arguments.value("bmap")
        verify = arguments.flag("verify")
        discard = arguments.flag("discard")
        force = arguments.flag("force")
        reboot = arguments.flag("reboot")
        quiet = arguments.flag("quiet")
        json = arguments.flag("json")
        switch arguments.value("decode") {
        case nil: decodeOnBoard = nil
        case "board": decodeOnBoard = true
        case "host": decodeOnBoard = false
        case let other?: throw ValidationError("--decode '\(other)': expected board or host")
        }
        if bmapPath != nil && decodeOnBoard == true {
            throw ValidationError("--bmap sends the mapped ranges decoded: it cannot go with --decode board")
        }
    }

    func run() throws {
        let file = try attempt("flash \(image)") { try FlashImage(image) }
        let map = try bmapPath.map { path in
            try attempt("flash --bmap \(path)") { () throws -> BlockMap in
                guard let text = LocalPath(path).bytes() else { throw LocalFailure("cannot read \(path): \(describeErrno())") }
                return try BlockMap(parsing: text)
            }
        }
        let stream = file.format != .raw && map == nil && decodeOnBoard != false
        var plan = try attempt("flash \(image)") { try FlashPlan(file, map: map, stream: stream, skipZeros: discard) }
        let login = try agent.login()
        plan.chunk = FlashPlan.chunkSize(agentMaxFrame: (try? login.connection.hello(client: "dbg flash").maxFrame) ?? 0)
        let run = FlashRun(remote: RemoteFlash(connection: login.connection, token: login.token), plan: plan, device: device,
                           quiet: quiet || json)
        let summary = try run.flash(discard: discard, force: force, readBack: verify)
        if json {
            print(summary.json(image: image, device: device))
        } else if !quiet {
            print(summary.line(image: image, device: device))
        }
        if reboot {
            try attempt("reboot") { try Reboot.request(login) }
        }
    }
}

/// `dbg reboot`: reboots the board through its own `reboot` (init stops the services,
/// dbgd among them, and the board comes back).
struct Reboot: Command {
    static let spec = CommandSpec(name: "reboot", abstract: "Reboot the board (as root, through its reboot command).",
                                  options: [], arguments: [])

    let agent: AgentOptions

    init(_ arguments: ParsedArguments) throws { agent = try AgentOptions(arguments) }

    func run() throws {
        let login = try agent.login()
        try attempt("reboot") { try Reboot.request(login) }
    }

    /// `reboot` asks init and returns at once; should init stop dbgd before the answer
    /// is out, the connection ends, which is the reboot going ahead too. (A detached
    /// delayed reboot would not do: the agent ends what its commands leave behind.)
    static func request(_ login: LoggedInAgent) throws {
        let result: Dbg.ExecResult
        do throws(ClientError) {
            result = try login.connection.call(service: ServiceID.dbg, op: Dbg.Op.runShell.rawValue,
                Dbg.ExecRequest(token: login.token, command: WireBytes("reboot"), cwd: WireBytes(""), timeoutSec: 30))
        } catch {
            if case .io = error { return }
            throw error
        }
        guard result.exitCode == 0 else {
            throw LocalFailure("the board did not take the reboot (exit \(result.exitCode)): \(String(decoding: result.stderr.bytes, as: UTF8.self))")
        }
    }
}
