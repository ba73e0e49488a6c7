@testable import DbgAgent
import DbgWire
import Foundation
import Testing

@Suite("SHA-256")
struct SHA256Tests {
    private func digest(_ chunks: [[UInt8]], hardware: Bool = SHA256.hardwareAvailable) -> String {
        var hasher = SHA256(hardware: hardware)
        for chunk in chunks { chunk.withUnsafeBytes { hasher.update($0) } }
        return hasher.finish().map { String(format: "%02x", $0) }.joined()
    }

    @Test("the FIPS 180-4 and NIST test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
    ])
    func vectors(_ text: String, _ expected: String) {
        #expect(digest([Array(text.utf8)]) == expected)
        #expect(digest([Array(text.utf8)], hardware: false) == expected)
    }

    /// On a CPU with SHA-256 instructions (SHA-NI, ARMv8 SHA2), they and the software
    /// rounds agree on every length, however the data is cut.
    @Test("the CPU's SHA-256 instructions and the software rounds give the same digests",
          .enabled(if: SHA256.hardwareAvailable))
    func hardwareMatchesSoftware() {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        let data = (0..<70_000).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        for length in [0, 1, 63, 64, 65, 127, 128, 129, 1000, 4096, 65_537, 70_000] {
            let bytes = Array(data[0..<length])
            let cut = [Array(bytes.prefix(length / 3)), Array(bytes.dropFirst(length / 3))]
            #expect(digest([bytes]) == digest([bytes], hardware: false), "length \(length)")
            #expect(digest(cut) == digest([bytes], hardware: false), "length \(length), in two pieces")
        }
    }

    @Test("a million 'a', fed in uneven chunks")
    func millionA() {
        let chunks = [1, 63, 64, 65, 1000, 4095, 4096, 4097].map { [UInt8](repeating: 0x61, count: $0) }
        var all = chunks
        var total = chunks.reduce(0) { $0 + $1.count }
        while total < 1_000_000 {
            let size = min(9_973, 1_000_000 - total)
            all.append([UInt8](repeating: 0x61, count: size))
            total += size
        }
        #expect(digest(all) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("every length around the block and padding boundaries matches sha256sum")
    func boundaries() throws {
        let data = (0..<200).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 121, 128, 200] {
            let bytes = Array(data[0..<length])
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-sha-\(UUID().uuidString.prefix(8))")
            try Data(bytes).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let tool = Process()
            let pipe = Pipe()
            tool.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
            tool.arguments = [file.path]
            tool.standardOutput = pipe
            try tool.run()
            tool.waitUntilExit()
            let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
            #expect(digest([bytes]) == String(expected), "length \(length)")
        }
    }
}
