import DbgClient
import DbgWire
import Foundation
import LineSimulator
import Testing

/// Disk images for the flashing tests, made once: an ext4 file system with files and
/// holes (mkfs.ext4 -d, no mount needed), its block map from Debian's bmaptool, and the
/// image compressed by the zstd, xz and gzip tools.
struct FlashImages {
    static let size = AgentProcess.isEmulated ? 32 << 20 : 256 << 20

    let directory: String
    var raw: String { directory + "/image.img" }
    var bmap: String { directory + "/image.bmap" }
    func compressed(_ suffix: String) -> String { raw + "." + suffix }

    /// A compressed image the agent under test decodes: zstd, or gzip in a build without
    /// zstd (the standard profile).
    var streamed: String { compressed(FlashImages.streamSuffix) }
    static var streamSuffix: String { AgentProcess.features.contains("zstd") ? "zst" : "gz" }

    /// Why the tests cannot run here (nil: they can).
    static let unavailable: String? = {
        guard geteuid() == 0 else { return "flashing needs root (loop devices)" }
        for tool in ["losetup", "mkfs.ext4", "bmaptool", "zstd", "xz", "gzip"] where shell("command -v \(tool)") != 0 {
            return "\(tool) is missing: Scripts/setup installs it"
        }
        guard let loop = try? LoopDevice(size: 1 << 20) else { return "no loop device can be set up here" }
        loop.detach()
        return nil
    }()

    static let shared: FlashImages = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-flash-\(UUID().uuidString.prefix(8))").path
        let tree = directory + "/tree"
        let megabytes = size >> 20
        let script = """
            set -e
            mkdir -p '\(tree)/etc' '\(tree)/data'
            head -c \(megabytes / 8)M /dev/urandom > '\(tree)/data/random.bin'
            seq 1 \(megabytes * 2000) > '\(tree)/data/numbers.txt'
            echo board > '\(tree)/etc/hostname'
            truncate -s \(size) '\(directory)/image.img'
            mkfs.ext4 -q -F -E lazy_itable_init=1,lazy_journal_init=1 -d '\(tree)' '\(directory)/image.img'
            bmaptool -q create '\(directory)/image.img' -o '\(directory)/image.bmap'
            zstd -q -T0 '\(directory)/image.img' -o '\(directory)/image.img.zst'
            xz -T0 -1 -k '\(directory)/image.img'
            gzip -1 -k '\(directory)/image.img'
            """
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        precondition(shell(script) == 0, "cannot make the flashing test images")
        return FlashImages(directory: directory)
    }()
}

/// A loop device over a sparse file, for the length of a test.
struct LoopDevice {
    let path: String
    let backing: String

    init(size: Int) throws {
        backing = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-loop-\(UUID().uuidString.prefix(8))").path
        guard shell("truncate -s \(size) '\(backing)'") == 0 else { throw AgentProcessError("cannot make \(backing)") }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-loop-\(UUID().uuidString.prefix(8)).name").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        guard shell("losetup -f --show '\(backing)' > '\(out)'") == 0,
              let name = try? String(contentsOfFile: out, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
              name.hasPrefix("/dev/") else {
            try? FileManager.default.removeItem(atPath: backing)
            throw AgentProcessError("losetup cannot set up a loop device")
        }
        path = name
    }

    /// The device's first `length` bytes equal the file's.
    func holds(_ file: String, length: Int) -> Bool { shell("cmp -n \(length) '\(file)' '\(path)'") == 0 }

    func fill(_ source: String) { _ = shell("dd if=\(source) of='\(path)' bs=1M status=none 2>/dev/null; sync") }

    func detach() {
        _ = shell("losetup -d '\(path)'")
        try? FileManager.default.removeItem(atPath: backing)
    }
}

@discardableResult
func shell(_ script: String) -> Int32 {
    guard let child = try? ChildProcess(["sh", "-c", script]) else { return -1 }
    _ = child.output.readDataToEndOfFile()
    return child.waitForExit(timeout: 300) ?? -1
}

/// An agent with root and a user who is not, and dbg logged in as root.
struct FlashFixture {
    let accounts: TestAccounts
    let agent: AgentProcess
    let dbg: DbgTool

    init(_ flags: [String] = []) throws {
        accounts = try TestAccounts([TestUser(name: "root", uid: 0, password: "rootpw"), TestUser(name: "runner", uid: 2000, password: "run")])
        agent = try AgentProcess(["--listen", "127.0.0.1:0"] + accounts.shadowFlags + flags)
        dbg = DbgTool(agent, user: "root", password: "rootpw")
    }

    func report(_ outcome: DbgTool.Outcome) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(outcome.stdout)) as? [String: Any]) ?? [:]
    }
}

@Suite("Flashing", .serialized, .needs("flash"), .enabled(if: FlashImages.unavailable == nil, "\(FlashImages.unavailable ?? "")"))
struct FlashTests {
    @Test("raw, zstd, xz and gzip images land byte for byte, read back and verified; compressed ones go compressed")
    func formats() throws {
        let images = FlashImages.shared
        let fixture = try FlashFixture()
        let device = try LoopDevice(size: FlashImages.size + (16 << 20))
        defer { device.detach() }
        // A build without a format's decoder refuses its stream, naming the switch.
        for (suffix, feature, buildSwitch) in [("", "", ""), ("zst", "zstd", "DBG_ZSTD"), ("xz", "xz", "DBG_XZ"), ("gz", "gzip", "DBG_GZIP")] {
            let image = suffix.isEmpty ? images.raw : images.compressed(suffix)
            device.fill("/dev/urandom")
            let outcome = try fixture.dbg.run(["flash", "--verify", "--json", image, device.path], timeout: 300)
            if !feature.isEmpty && !AgentProcess.features.contains(feature) {
                #expect(outcome.status != 0 && outcome.stderr.contains("this dbgd was built without \(feature) (\(buildSwitch)=OFF)"),
                        "\(suffix): \(outcome.stderr)")
                continue
            }
            #expect(outcome.status == 0, "\(suffix): \(outcome.stderr)")
            #expect(device.holds(images.raw, length: FlashImages.size), "\(suffix)")
            let report = fixture.report(outcome)
            #expect(report["mode"] as? String == (suffix.isEmpty ? "raw" : "stream") && report["verified"] as? Bool == true)
            let fileSize = (try FileManager.default.attributesOfItem(atPath: image)[.size] as? Int) ?? 0
            #expect(report["wire_bytes"] as? Int == fileSize, "\(suffix): \(report)")
            #expect(report["image_size"] as? Int == FlashImages.size && report["written"] as? Int == FlashImages.size)
        }
        #expect(fixture.agent.log.contains { $0.contains("flash: root writes \(device.path)") })
    }

    @Test("with a block map only the mapped ranges are sent, each checked on the board (read back with --verify); a damaged range is named")
    func blockMap() throws {
        let images = FlashImages.shared
        let fixture = try FlashFixture()
        let device = try LoopDevice(size: FlashImages.size)
        defer { device.detach() }
        let map = try BlockMap(parsing: [UInt8](try Data(contentsOf: URL(fileURLWithPath: images.bmap))))
        #expect(map.mappedBytes < UInt64(FlashImages.size) / 2 && map.checksumType == "sha256")
        for (image, verify) in [(images.raw, false), (images.streamed, false), (images.raw, true)] {
            device.fill("/dev/zero")  // unmapped blocks are not written: the image has zeros there
            let outcome = try fixture.dbg.run(["flash", "--bmap", images.bmap, "--json"] + (verify ? ["--verify"] : [])
                                              + [image, device.path], timeout: 300)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(device.holds(images.raw, length: FlashImages.size))
            let report = fixture.report(outcome)
            #expect(report["mode"] as? String == "bmap" && report["ranges_checked"] as? Bool == true)
            #expect(report["verified"] as? Bool == verify)
            #expect(report["wire_bytes"] as? Int == Int(map.mappedBytes) && report["written"] as? Int == Int(map.mappedBytes))
        }
        // One byte changed inside a mapped range after the map was made.
        let damaged = images.directory + "/damaged.img"
        let (offset, _) = map.bytes(of: map.ranges[map.ranges.count / 2])
        #expect(shell("cp --sparse=always '\(images.raw)' '\(damaged)' && printf X | dd of='\(damaged)' bs=1 seek=\(offset + 7) conv=notrunc status=none") == 0)
        let outcome = try fixture.dbg.run(["flash", "--bmap", images.bmap, damaged, device.path], timeout: 300)
        let range = map.ranges[map.ranges.count / 2]
        #expect(outcome.status == 1 && outcome.stderr.contains("blocks \(range.first)-\(range.last)"), "\(outcome.stderr)")
        // A map that was edited fails its own checksum.
        let edited = images.directory + "/edited.bmap"
        let text = try String(contentsOfFile: images.bmap, encoding: .utf8)
        try text.replacingOccurrences(of: "<BlockSize> 4096 </BlockSize>", with: "<BlockSize> 8192 </BlockSize>")
            .write(toFile: edited, atomically: true, encoding: .utf8)
        let refused = try fixture.dbg.run(["flash", "--bmap", edited, images.raw, device.path])
        #expect(refused.status != 0 && refused.stderr.contains("BmapFileChecksum"), "\(refused.stderr)")
    }

    @Test("--discard zeroes the device first: blocks of zeros are neither sent (raw) nor written (stream)")
    func discard() throws {
        let images = FlashImages.shared
        let fixture = try FlashFixture()
        let device = try LoopDevice(size: FlashImages.size)
        defer { device.detach() }
        for image in [images.raw, images.streamed] {
            device.fill("/dev/urandom")
            let outcome = try fixture.dbg.run(["flash", "--discard", "--verify", "--json", image, device.path], timeout: 300)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(device.holds(images.raw, length: FlashImages.size))
            let written = fixture.report(outcome)["written"] as? Int ?? 0
            #expect(written > 0 && written < FlashImages.size / 2, "\(written)")
        }
    }

    @Test("refused with a reason: mounted, too small, not a block device, MTD, not root, one flash at a time")
    func refusals() throws {
        let images = FlashImages.shared
        let fixture = try FlashFixture()
        let small = try LoopDevice(size: 4 << 20)
        defer { small.detach() }
        var outcome = try fixture.dbg.run(["flash", images.streamed, small.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("larger than \(small.path)"), "\(outcome.stderr)")
        outcome = try fixture.dbg.run(["flash", "--force", images.raw, small.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("larger than"), "--force never skips the size check")
        outcome = try fixture.dbg.run(["flash", images.raw, images.raw])
        #expect(outcome.status == 1 && outcome.stderr.contains("is not a block device"), "\(outcome.stderr)")
        outcome = try fixture.dbg.run(["flash", images.raw, "/dev/null"])
        #expect(outcome.status == 1 && outcome.stderr.contains("/dev/null is not a block device"))
        let mtd = images.directory + "/mtd0"
        if shell("mknod '\(mtd)' c 90 0") == 0 {
            outcome = try fixture.dbg.run(["flash", images.raw, mtd])
            #expect(outcome.status == 1 && outcome.stderr.contains("is an MTD device") && outcome.stderr.contains("not supported"),
                    "\(outcome.stderr)")
        } else {
            print("FlashTests.refusals: mknod is not allowed here; the MTD case is not checked")
        }
        var runner = fixture.dbg
        runner.environment["DBG_USER"] = "runner"
        runner.environment["DBG_PASSWORD"] = "run"
        outcome = try runner.run(["flash", images.raw, small.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("needs root"), "\(outcome.stderr)")

        // Mounted (where this machine lets a test mount): refused, and --force overrides it.
        let device = try LoopDevice(size: FlashImages.size)
        defer { device.detach() }
        device.fill(images.raw)
        let mountPoint = images.directory + "/mnt-\(UUID().uuidString.prefix(6))"
        if shell("mkdir -p '\(mountPoint)' && mount -o ro '\(device.path)' '\(mountPoint)'") == 0 {
            outcome = try fixture.dbg.run(["flash", images.streamed, device.path])
            #expect(outcome.status == 1 && outcome.stderr.contains("is mounted on \(mountPoint)"), "\(outcome.stderr)")
            #expect(shell("umount '\(mountPoint)' || { sleep 1; umount '\(mountPoint)'; }") == 0)
        } else {
            print("FlashTests.refusals: mount is not allowed here; the mounted case is not checked")
        }

        // One flash at a time: a second session is told whose flash runs.
        let holder = try fixture.agent.connect()
        let session = try holder.authenticate(user: "root", password: "rootpw")
        let flash = RemoteFlash(connection: holder, token: session.token)
        let opened = try flash.open(small.path, imageSize: 4096, stream: false, discard: false, force: false)
        outcome = try fixture.dbg.run(["flash", images.raw, device.path])
        #expect(outcome.status == 1 && outcome.stderr.contains("is being flashed by root"), "\(outcome.stderr)")
        // A write past the image's end, a stream offset out of order: refused before the device.
        #expect(throws: ClientError.self) {
            _ = try flash.send(opened.flashID, { nil })
            try holder.call(service: ServiceID.dbg, op: Dbg.Op.flashWrite.rawValue,
                            Dbg.FlashWriteRequest(token: session.token, flashID: opened.flashID, offset: 4096, data: WireBytes([1])),
                            expecting: Dbg.FlashWriteResult.self)
        }
        #expect(throws: ClientError.self) {
            try holder.call(service: ServiceID.dbg, op: Dbg.Op.flashWrite.rawValue,
                            Dbg.FlashWriteRequest(token: session.token, flashID: opened.flashID + 1, offset: 0, data: WireBytes([1])),
                            expecting: Dbg.FlashWriteResult.self)
        }
        _ = try flash.finish(opened.flashID, readBack: false, abort: true)
    }

    @Test("a write the device refuses is answered with its error, so are the writes after it; the device still closes")
    func deviceError() throws {
        let fixture = try FlashFixture()
        let device = try LoopDevice(size: 8 << 20)
        defer {
            shell("blockdev --setrw '\(device.path)'")
            device.detach()
        }
        let connection = try fixture.agent.connect()
        let session = try connection.authenticate(user: "root", password: "rootpw")
        let flash = RemoteFlash(connection: connection, token: session.token)
        let opened = try flash.open(device.path, imageSize: 1 << 20, stream: false, discard: false, force: false)
        guard shell("blockdev --setro '\(device.path)'") == 0 else {
            print("FlashTests.deviceError: blockdev --setro is not allowed here; not checked")
            return
        }
        let chunk = [UInt8](repeating: 0x5a, count: 64 << 10)
        var sent = 0
        try chunk.withUnsafeBytes { bytes in
            #expect(throws: ClientError.self) {
                _ = try flash.send(opened.flashID, { () throws(ClientError) -> RemoteFlash.Piece? in
                    guard sent < 4 else { return nil }
                    sent += 1
                    return .data(offset: UInt64(sent - 1) * UInt64(bytes.count), bytes)
                })
            }
            // The next write gets the same error: the device's state is unknown after it.
            do {
                _ = try flash.send(opened.flashID, { () throws(ClientError) -> RemoteFlash.Piece? in
                    defer { sent += 1 }
                    return sent == 4 ? .data(offset: 4 << 16, bytes) : nil
                })
                Issue.record("a write after a failed one was taken")
            } catch {
                #expect("\(error)".contains("writing at offset 0"), "\(error)")
            }
        }
        #expect(throws: ClientError.self) { _ = try flash.finish(opened.flashID, readBack: false) }
        #expect(fixture.agent.waitForLine(timeout: 10) { $0.contains("\(device.path): 0 bytes written") && $0.contains("failed") } != nil,
                "\(fixture.agent.log.suffix(4))")
        // Closed: the next flash opens it.
        shell("blockdev --setrw '\(device.path)'")
        _ = try flash.finish(try flash.open(device.path, imageSize: 4096, stream: false, discard: false, force: false).flashID,
                             readBack: false, abort: true)
    }

    @Test("unaligned writes go through the page cache: written back and read back with progress events, the digests equal")
    func unalignedWrites() throws {
        let fixture = try FlashFixture()
        let size = 70 << 20  // two batches of 64 MiB each way
        let device = try LoopDevice(size: size + (1 << 20))
        defer { device.detach() }
        let connection = try fixture.agent.connect()
        let session = try connection.authenticate(user: "root", password: "rootpw")
        let flash = RemoteFlash(connection: connection, token: session.token)
        let opened = try flash.open(device.path, imageSize: UInt64(size) + 1, stream: false, discard: false, force: false)
        var chunk = [UInt8](repeating: 0, count: 512 << 10)
        for index in chunk.indices { chunk[index] = UInt8(truncatingIfNeeded: index &* 7 &+ index >> 9) }
        var sent = 0
        try chunk.withUnsafeBytes { bytes in
            _ = try flash.send(opened.flashID, { () throws(ClientError) -> RemoteFlash.Piece? in
                guard sent < size else { return nil }
                defer { sent += bytes.count }
                return .data(offset: 1 + UInt64(sent), bytes)  // one byte off every sector
            })
        }
        var phases: [UInt32: Int] = [:]
        let result = try flash.finish(opened.flashID, readBack: true) { event in phases[event.phase, default: 0] += 1 }
        #expect(result.written == UInt64(size) && result.length == UInt64(size) + 1)
        #expect(!result.readBack.bytes.isEmpty && result.readBack == result.digest)
        #expect(phases[2] ?? 0 >= 1 && phases[3] ?? 0 >= 1, "\(phases)")
    }

    @Test("a flash cut off by Ctrl-C or a lost connection: dbg says how far it got, the agent closes the device and flashes again")
    func interrupted() throws {
        let images = FlashImages.shared
        let fixture = try FlashFixture()
        let device = try LoopDevice(size: FlashImages.size)
        defer { device.detach() }
        for (round, signal) in [SIGINT, SIGKILL].enumerated() {
            let quoted = [DbgTool.binary, "flash", images.raw, device.path]
            let child = try ChildProcess(["sh", "-c", "exec " + quoted.map { "'\($0)'" }.joined(separator: " ") + " 2>&1"],
                                         environment: fixture.dbg.environment)
            #expect(fixture.agent.waitForLines(round + 1, timeout: 20) { $0.contains("flash: root writes") } == round + 1)
            Thread.sleep(forTimeInterval: 0.2)
            kill(child.pid, signal)
            let output = String(decoding: child.output.readDataToEndOfFile(), as: UTF8.self)
            let status = child.waitForExit(timeout: 30)
            if signal == SIGINT {
                #expect(status == 130 && output.contains("interrupted; the device is partially written"), "\(output)")
            }
            #expect(fixture.agent.waitForLines(round + 1, timeout: 20) { $0.contains("\(device.path): ") && $0.contains("bytes written") }
                    == round + 1, "\(fixture.agent.log.suffix(5))")
        }
        let again = try fixture.dbg.run(["flash", "--json", images.streamed, device.path], timeout: 300)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(device.holds(images.raw, length: FlashImages.size))
    }

    @Test("over a 115200-baud serial line a compressed image goes compressed: the line carries little more than the file")
    func serialLine() throws {
        let tree = FileManager.default.temporaryDirectory.appendingPathComponent("dbg-small-\(UUID().uuidString.prefix(8))").path
        let image = tree + "/small.img"
        #expect(shell("mkdir -p '\(tree)/t' && echo hello > '\(tree)/t/hello' && head -c 32K /dev/urandom > '\(tree)/t/random' && truncate -s 4M '\(image)' && mkfs.ext4 -q -F -d '\(tree)/t' '\(image)'") == 0)
        let suffix = FlashImages.streamSuffix
        #expect(shell(suffix == "zst" ? "zstd -q -19 '\(image)'" : "gzip -9 -k '\(image)'") == 0)
        let compressedSize = (try FileManager.default.attributesOfItem(atPath: image + "." + suffix)[.size] as? Int) ?? 0
        let line = try LineSimulator(baud: 115_200)
        let fixture = try FlashFixture(["--serial", "\(line.agentDevice),115200"])
        var dbg = fixture.dbg
        dbg.environment["DBG_HOST"] = "serial:\(line.clientDevice),115200"
        let device = try LoopDevice(size: 8 << 20)
        defer { device.detach() }
        let before = line.statistics.carried
        let outcome = try dbg.run(["flash", "--verify", "--json", image + "." + suffix, device.path], timeout: 120)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(device.holds(image, length: 4 << 20))
        let carried = line.statistics.carried - before
        // Both directions and the login: framing and answers on top of the file.
        #expect(carried < compressedSize + 8192, "\(carried) bytes carried for a \(compressedSize)-byte file")
        print("FlashTests.serialLine: \(compressedSize)-byte image.\(suffix), \(carried) bytes on the line in both directions")
    }
}
