import CSys
import DbgWire

/// GET /api/v1/systems: the board this agent serves. Anyone may see its name, the
/// agent's version and the architecture; a session also sees the kernel, uptime, load,
/// memory, the root file system's space, the services and what the agent adds (the
/// distro's and the app's state). Everything comes from /proc and statvfs, which answer
/// at once.
enum SystemReport {
    static func systems(detailed: Bool, core: ServiceCore, extra: [(String, () -> JSONValue)]) -> JSONValue {
        var members = [JSONMember("name", .string(hostName())), JSONMember("version", .string(AgentVersion.number)),
                       JSONMember("architecture", .string(AgentVersion.architecture))]
        if detailed {
            members.append(JSONMember("kernel", .string(Array("Linux ".utf8) + firstLine("/proc/sys/kernel/osrelease"))))
            members.append(JSONMember("uptime", number(words(firstLine("/proc/uptime")).first ?? [])))
            let load = words(firstLine("/proc/loadavg")).prefix(3).map { number($0) }
            members.append(JSONMember("load", .array(load)))
            members.append(JSONMember("memory", memory()))
            members.append(JSONMember("disks", .array([disk("/")])))
            members.append(JSONMember("services", .array(RequestRouter.servedNames.map { .string($0) })))
            for (name, status) in extra { members.append(JSONMember(name, status())) }
        }
        return .array([.object(members)])
    }

    private static func hostName() -> [UInt8] {
        let name = firstLine("/proc/sys/kernel/hostname")
        return name.isEmpty ? Array("dbgd".utf8) : name
    }

    /// MemTotal and MemAvailable, in KiB.
    private static func memory() -> JSONValue {
        var total: Int64?
        var available: Int64?
        try? TextFile.forEachLine("/proc/meminfo") { line in
            let fields = words(Array(line))
            guard fields.count >= 2, case .number(let number) = SystemReport.number(fields[1]), let value = number.integer else {
                return true
            }
            if fields[0] == Array("MemTotal:".utf8) { total = value }
            if fields[0] == Array("MemAvailable:".utf8) { available = value }
            return total == nil || available == nil
        }
        return .object([JSONMember("totalKiB", total.map { .integer($0) } ?? .null),
                        JSONMember("availableKiB", available.map { .integer($0) } ?? .null)])
    }

    private static func disk(_ path: String) -> JSONValue {
        var total: UInt64 = 0
        var available: UInt64 = 0
        guard path.withCString({ csys_disk_space($0, &total, &available) }) == 0 else {
            return .object([JSONMember("path", .string(path)), JSONMember("error", .string(Errno.current.message))])
        }
        return .object([JSONMember("path", .string(path)), JSONMember("totalBytes", .integer(Int64(clamping: total))),
                        JSONMember("availableBytes", .integer(Int64(clamping: available)))])
    }

    /// A number as /proc wrote it ("1234.56"), or null when it is not one.
    private static func number(_ bytes: [UInt8]) -> JSONValue {
        guard !bytes.isEmpty, bytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: ".") }),
              bytes.first != UInt8(ascii: "."), bytes.last != UInt8(ascii: "."),
              bytes.filter({ $0 == UInt8(ascii: ".") }).count <= 1,
              let value = try? JSONReader.parse(bytes) else { return .null }
        return value
    }

    /// The words of a line split at spaces.
    private static func words(_ line: [UInt8]) -> [[UInt8]] {
        line.split(separator: 0x20).map { Array($0) }
    }

    /// The first line of a small file; empty when it cannot be read.
    private static func firstLine(_ path: String) -> [UInt8] {
        var found: [UInt8] = []
        try? TextFile.forEachLine(path) { line in
            found = Array(line)
            return false
        }
        return found
    }
}
