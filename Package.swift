// swift-tools-version:6.0
import PackageDescription

// The host build (glibc, dynamic): what the tests run. The same agent and wire sources
// are also compiled as Embedded Swift into static musl firmware by CMakeLists.txt.
let package = Package(
    name: "dbg",
    products: [
        .executable(name: "dbgd", targets: ["dbgd"]),
        .executable(name: "dbg", targets: ["dbg"]),
        .library(name: "DbgWire", targets: ["DbgWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Syscall headers and the few helpers that must be C. `firmware/` holds the
        // musl-only glue that only the CMake build compiles. zlib, liblzma and libzstd
        // unpack distro rootfs archives.
        .target(name: "CSys", exclude: ["firmware"], linkerSettings: [
            .linkedLibrary("crypt"), .linkedLibrary("z"), .linkedLibrary("lzma"), .linkedLibrary("zstd"),
        ]),
        // Linux-PAM, host build only (the firmware checks shadow with libxcrypt).
        .systemLibrary(name: "CPAM", path: "Sources/CPAM"),
        // Sutra v2 frames, every message of the seeds, and SHA-256 (Embedded subset).
        // No unsafe flags: another package must be able to depend on the library. (An
        // -O here made the host tests 25 s faster; they hash in a debug build now.)
        .target(name: "DbgWire", dependencies: ["CSHA256"]),
        // SHA-256's block function on SHA-NI or the ARMv8 SHA2 extension (intrinsics are C).
        .target(name: "CSHA256"),
        // What agent and client both need from the system, written once in Swift
        // (Embedded subset): endpoints, serial lines, TCP connections.
        .target(name: "DbgPlatform", dependencies: ["CSys"]),
        // The agent: event loop, transports, connections, services (Embedded subset).
        .target(name: "DbgAgent", dependencies: ["CSys", "CPAM", "DbgWire", "DbgPlatform"]),
        .executableTarget(name: "dbgd", dependencies: ["DbgAgent"]),
        // Host side (normal Swift): a blocking client library, the `dbg` CLI, the bench tool.
        .target(name: "DbgClient", dependencies: ["DbgWire", "DbgPlatform"]),
        .executableTarget(name: "dbg", dependencies: [
            "DbgClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "dbg-bench", dependencies: [
            "DbgClient", "CSys", "LineSimulator", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // A serial cable made of two PTY pairs, with a line rate and damage on demand
        // (the serial tests and Scripts/bench).
        .target(name: "LineSimulator"),
        .testTarget(name: "DbgWireTests", dependencies: ["DbgWire"]),
        .testTarget(name: "DbgPlatformTests", dependencies: ["DbgPlatform"]),
        .testTarget(name: "DbgAgentTests", dependencies: ["DbgAgent", "CSys"]),
        // CSys gives the tests the system's libcrypt, to make password hashes with.
        .testTarget(name: "EndToEndTests", dependencies: ["DbgClient", "CSys", "LineSimulator"]),
    ] + fuzzTargets
)

// libFuzzer targets, one per parser of untrusted bytes (Scripts/fuzz builds them with
// -sanitize=fuzzer,address in .build-fuzz; a plain build links them with an empty main).
var fuzzTargets: [Target] {
    let agent: [Target.Dependency] = ["DbgAgent", "DbgWire", "CSys"]
    let targets: [(String, [Target.Dependency])] = [
        ("Frames", agent), ("Messages", ["DbgWire"]), ("Link", ["DbgWire"]), ("Tar", agent),
        ("HTTP", agent), ("Command", agent), ("Accounts", agent), ("Telnet", ["DbgClient"]),
    ]
    return targets.map { name, dependencies in
        .executableTarget(name: "fuzz-\(name.lowercased())", dependencies: dependencies, path: "Tests/Fuzz/Fuzz\(name)")
    }
}
