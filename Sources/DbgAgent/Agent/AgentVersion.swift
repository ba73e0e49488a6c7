import CSys
import CSys
import DbgWire

enum AgentVersion {
    static let number = Release.number

    static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "aarch64"
        #else
        return "unknown"
        #endif
    }

    /// "firmware" for the static Embedded-Swift musl build, "host" for the SwiftPM build.
    static var flavor: String {
        #if hasFeature(Embedded)
        return "firmware"
        #else
        return "host"
        #endif
    }

    /// The optional parts this dbgd was built with (CMakeLists.txt's feature table; the
    /// host build has all of them), as `--version` prints them and the tests read them.
    static var features: [String] {
        var built: [String] = []
        #if !DBG_NO_SERIAL
        built.append("serial")
        #endif
        #if !DBG_NO_SHELLS
        built.append("shells")
        #endif
        #if !DBG_NO_FILE_OPS
        built.append("file-ops")
        #endif
        #if !DBG_NO_STREAMS
        built.append("streams")
        #endif
        #if !DBG_NO_TLS
        built.append("tls")
        #endif
        #if !DBG_NO_FORWARD
        built.append("forward")
        #endif
        #if !DBG_NO_FLASH
        built.append("flash")
        #endif
        #if !DBG_NO_GZIP
        built.append("gzip")
        #endif
        #if !DBG_NO_MDNS
        built.append("mdns")
        #endif
        #if !DBG_NO_DISTRO
        built.append("distro")
        #endif
        #if !DBG_NO_XZ
        built.append("xz")
        #endif
        #if !DBG_NO_ZSTD
        built.append("zstd")
        #endif
        #if !DBG_NO_APP
        built.append("app")
        #endif
        #if !DBG_NO_HTTP
        built.append("http")
        #endif
        #if !DBG_NO_CHANNELS
        built.append("channels")
        #endif
        #if !hasFeature(Embedded)
        built.append("pam")
        #endif
        return built
    }

    /// The password hash schemes crypt(3) knows here: those built into the firmware's
    /// libxcrypt, or the host's libcrypt's.
    static var cryptSchemes: String { String(cString: csys_crypt_schemes()) }

    /// `--version`: the line, the features, the hash schemes.
    static var description: String {
        line + "\nfeatures: " + features.joined(separator: " ") + "\npassword hashes: " + cryptSchemes
    }

    /// "dbgd 0.1.0 (aarch64, firmware)"
    static var line: String { "dbgd \(number) (\(architecture), \(flavor))" }
}
