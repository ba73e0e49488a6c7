import CTLS
import DbgWire

/// A P-256 key and the certificate made from it alone (`KeyCertificate`: the same key
/// always gives the same bytes), as both ends of a TLS connection present it: the
/// board's key (AgentIdentity) and a client's key for key login (dbg keygen). Peers
/// trust it by its fingerprint.
public struct TLSKey: Sendable, Equatable {
    public let secret: [UInt8]
    public let certificate: KeyCertificate

    public var fingerprint: String { certificate.fingerprint }

    /// The key of `secret` (32 bytes), its certificate issued to `name`; nil when the
    /// secret is not a valid P-256 scalar.
    public init?(secret: [UInt8], name: String) {
        var point = [UInt8](repeating: 0, count: Int(CTLS_P256_POINT))
        guard secret.count == Int(CTLS_P256_SECRET), ctls_p256_point(secret, &point) == 0,
              let certificate = KeyCertificate(point: point, name: name, sign: { TLSKey.sign($0, with: secret) }) else {
            return nil
        }
        self.secret = secret
        self.certificate = certificate
    }

    /// A fresh secret from the kernel's randomness; nil when there is none.
    public static func makeSecret() -> [UInt8]? {
        var secret = [UInt8](repeating: 0, count: Int(CTLS_P256_SECRET))
        var point = [UInt8](repeating: 0, count: Int(CTLS_P256_POINT))
        return ctls_p256_keygen(&secret, &point) == 0 ? secret : nil
    }

    /// The DER ECDSA signature of a SHA-256 digest.
    public static func sign(_ digest: [UInt8], with secret: [UInt8]) -> [UInt8]? {
        var signature = [UInt8](repeating: 0, count: Int(CTLS_P256_SIGNATURE_MAX))
        let length = ctls_p256_sign(secret, digest, &signature)
        return length > 0 ? Array(signature[0..<length]) : nil
    }
}
