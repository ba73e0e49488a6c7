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

    /// "dbgd 0.1.0 (aarch64, firmware)"
    static var line: String { "dbgd \(number) (\(architecture), \(flavor))" }
}
