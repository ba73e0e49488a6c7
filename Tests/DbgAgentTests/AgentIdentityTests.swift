import CTLS
@testable import DbgAgent
import DbgPlatform
import DbgWire
import Foundation
import Testing

/// The board key and its certificate, checked by OpenSSL (not our code): the certificate
/// parses, its self-signature verifies, and the fingerprint is the SHA-256 of the key
/// OpenSSL reads out of it.
@Suite("Board identity")
struct AgentIdentityTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dbgd-state-\(UUID().uuidString.prefix(8))")

    @Test("made once, mode 0600, loaded again unchanged")
    func madeAndKept() throws {
        let (first, origin) = try AgentIdentity.loadOrCreate(in: directory.path)
        #expect(origin == .created)
        let key = directory.appendingPathComponent(AgentIdentity.fileName).path
        let attributes = try FileManager.default.attributesOfItem(atPath: key)
        #expect((attributes[.posixPermissions] as? Int) == 0o600 && (attributes[.size] as? Int) == 32)
        let (again, originAgain) = try AgentIdentity.loadOrCreate(in: directory.path)
        #expect(originAgain == .loaded && again.fingerprint == first.fingerprint && again.certificate == first.certificate)
        #expect(first.fingerprint.hasPrefix("SHA256:") && first.fingerprint.count == 7 + 43)
    }

    @Test("OpenSSL reads the certificate, verifies its signature and finds the same key")
    func openSSLAgrees() throws {
        let identity = try AgentIdentity.loadOrCreate(in: directory.path).identity
        let der = directory.appendingPathComponent("cert.der")
        try Data(identity.certificate.der).write(to: der)
        let pem = directory.appendingPathComponent("cert.pem").path
        #expect(try openssl(["x509", "-inform", "DER", "-in", der.path, "-out", pem]).status == 0)
        let text = try openssl(["x509", "-in", pem, "-noout", "-text"])
        #expect(text.status == 0 && text.output.contains("ecdsa-with-SHA256") && text.output.contains("prime256v1")
            && text.output.contains("CN = dbgd"), "\(text.output)")
        let verify = try openssl(["verify", "-CAfile", pem, pem])
        #expect(verify.status == 0 && verify.output.contains("OK"), "\(verify.output)")
        let fingerprint = try shell("openssl x509 -in '\(pem)' -pubkey -noout | openssl pkey -pubin -outform DER "
            + "| openssl dgst -sha256 -binary | base64 | tr -d '=\\n'")
        #expect("SHA256:" + fingerprint == identity.fingerprint)
    }

    @Test("a directory that cannot be written gives a key for this run only, with the reason")
    func readOnlyStateDirectory() throws {
        let (identity, origin) = try AgentIdentity.loadOrCreate(in: "/proc/self/dbgd-state")
        #expect(identity.fingerprint.hasPrefix("SHA256:"))
        guard case .ephemeral(let why) = origin else { return #expect(Bool(false), "\(origin)") }
        #expect(why.contains("/proc/self/dbgd-state"))
    }

    @Test("a key others can read, of the wrong size, or not a file is refused with its reason")
    func badKeyFiles() throws {
        _ = try AgentIdentity.loadOrCreate(in: directory.path)
        let key = directory.appendingPathComponent(AgentIdentity.fileName).path
        chmod(key, 0o640)
        #expect(loadFailure()?.contains("chmod 600") == true)
        chmod(key, 0o600)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: key))
        chmod(key, 0o600)
        let refusal = loadFailure()
        #expect(refusal?.contains("32 bytes") == true, "\(refusal ?? "accepted")")
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: "/etc/passwd")
        #expect(loadFailure() != nil)
    }

    /// Why loading fails, nil when it does not.
    private func loadFailure() -> String? {
        do throws(StartupError) {
            _ = try AgentIdentity.loadOrCreate(in: directory.path)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("signatures verify with the key's point and fail for another digest")
    func signatures() throws {
        let identity = try AgentIdentity.loadOrCreate(in: directory.path).identity
        let digest = [UInt8](repeating: 7, count: 32)
        let signature = try #require(TLSKey.sign(digest, with: identity.secret))
        #expect(ctls_p256_verify(identity.certificate.point, digest, signature, signature.count) == 1)
        #expect(ctls_p256_verify(identity.certificate.point, [UInt8](repeating: 8, count: 32), signature, signature.count) == 0)
    }

    private func openssl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try run("/usr/bin/openssl", arguments)
    }

    private func shell(_ command: String) throws -> String {
        try run("/bin/sh", ["-c", command]).output
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }
}
