import Foundation
import Testing

/// The board's key (issue 18): made once in --state-dir, logged with its fingerprint,
/// kept across restarts, shown by dbg info.
@Suite(.needs("tls")) struct BoardKeyTests {
    @Test func keptAcrossRestartsAndShownByInfo() throws {
        let fixture = try CommandFixture()
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-state-\(UUID().uuidString.prefix(8))")
        var fingerprint = ""
        for round in 0..<2 {
            let agent = try fixture.startAgent(["--state-dir", state.path])
            let line = try #require(agent.log.first { $0.contains("board key SHA256:") })
            let logged = String(line.split(separator: " ").first { $0.hasPrefix("SHA256:") } ?? "")
            #expect(line.hasSuffix("(made now in \(state.path))") == (round == 0), "\(line)")
            if round == 0 { fingerprint = logged }
            #expect(logged == fingerprint)
            let info = try DbgTool(agent).run(["info"])
            #expect(info.out.contains("board key: \(fingerprint)\n"), "\(info.out)")
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: state.appendingPathComponent("identity.key").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func readOnlyStateDirectoryGivesAKeyForThisRunWithAWarning() throws {
        let agent = try CommandFixture().startAgent(["--state-dir", "/proc/self/dbgd-state"])
        #expect(agent.log.contains { $0.contains("for this run only") && $0.contains("--state-dir") }, "\(agent.log)")
    }
}
