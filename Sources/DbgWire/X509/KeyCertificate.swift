/// A P-256 public key and the self-signed certificate that carries it in TLS: what the
/// board (and a client logging in with a key) presents. The certificate is made from the
/// key alone (serial from the key, fixed validity, RFC 6979 signatures are deterministic),
/// so the same key always gives the same bytes; what a client pins is the key, as the
/// SHA-256 of its SubjectPublicKeyInfo.
public struct KeyCertificate: Equatable, Sendable {
    /// The uncompressed point, 65 bytes.
    public let point: [UInt8]
    /// The certificate (DER).
    public let der: [UInt8]

    static let ecPublicKey: [UInt64] = [1, 2, 840, 10045, 2, 1]
    static let prime256v1: [UInt64] = [1, 2, 840, 10045, 3, 1, 7]
    static let ecdsaWithSHA256: [UInt64] = [1, 2, 840, 10045, 4, 3, 2]
    static let commonName: [UInt64] = [2, 5, 4, 3]

    /// `sign` returns the DER ECDSA signature of a SHA-256 digest, nil on failure.
    public init?(point: [UInt8], name: String, sign: ([UInt8]) -> [UInt8]?) {
        guard point.count == 65, point[0] == 4 else { return nil }
        let key = KeyCertificate.subjectPublicKeyInfo(point)
        var keyHash = SHA256()
        key.withUnsafeBytes { keyHash.update($0) }
        let subject = DER.sequence([DER.set([DER.sequence([DER.objectIdentifier(KeyCertificate.commonName), DER.utf8String(name)])])])
        let algorithm = DER.sequence([DER.objectIdentifier(KeyCertificate.ecdsaWithSHA256)])
        // Version 1 (no extensions); valid from 2025 on, without end: boards' clocks are
        // often wrong, and the pin is what is trusted, not the dates.
        let certificate = DER.sequence([
            DER.unsignedInteger(Array(keyHash.finish().prefix(16))), algorithm, subject,
            DER.sequence([DER.utcTime("250101000000Z"), DER.generalizedTime("99991231235959Z")]), subject, key,
        ])
        var digest = SHA256()
        certificate.withUnsafeBytes { digest.update($0) }
        guard let signature = sign(digest.finish()) else { return nil }
        self.point = point
        der = DER.sequence([certificate, algorithm, DER.bitString(signature)])
    }

    /// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING point }
    public static func subjectPublicKeyInfo(_ point: [UInt8]) -> [UInt8] {
        DER.sequence([DER.sequence([DER.objectIdentifier(ecPublicKey), DER.objectIdentifier(prime256v1)]), DER.bitString(point)])
    }

    /// "SHA256:" and the unpadded base64 of the SHA-256 of the key's
    /// SubjectPublicKeyInfo, as ssh shows keys.
    public var fingerprint: String { KeyCertificate.fingerprint(point: point) }

    public static func fingerprint(point: [UInt8]) -> String {
        var hash = SHA256()
        subjectPublicKeyInfo(point).withUnsafeBytes { hash.update($0) }
        return "SHA256:" + base64(hash.finish(), padded: false)
    }

    static func base64(_ bytes: [UInt8], padded: Bool) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<(chunk.count + 1) { out.append(alphabet[Int(value >> (18 - 6 * UInt32(position)) & 63)]) }
            if padded { out += [UInt8](repeating: UInt8(ascii: "="), count: 3 - chunk.count) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
