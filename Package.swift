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
        // musl-only glue that only the CMake build compiles.
        .target(name: "CSys", exclude: ["firmware"]),
        // gzip, xz and zstd streams for distro rootfs archives and flashed images (zlib, liblzma, libzstd).
        .target(name: "CDecompress", linkerSettings: [
            .linkedLibrary("z"), .linkedLibrary("lzma"), .linkedLibrary("zstd"),
        ]),
        // BearSSL (TLS, P-256 keys), for the agent and the client.
        .target(name: "CTLS", linkerSettings: [.linkedLibrary("bearssl")]),
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
        .target(name: "DbgPlatform", dependencies: ["CSys", "CTLS", "DbgWire"]),
        // The agent: event loop, transports, connections, services (Embedded subset).
        // libcrypt checks shadow hashes (linked here, not in CSys: the client needs none).
        .target(name: "DbgAgent", dependencies: ["CSys", "CDecompress", "CTLS", "CPAM", "DbgWire", "DbgPlatform"],
                linkerSettings: [.linkedLibrary("crypt")]),
        .executableTarget(name: "dbgd", dependencies: ["DbgAgent"], exclude: ["firmware"]),
        // Host side (normal Swift): a blocking client library, the `dbg` CLI, the bench tool.
        .target(name: "DbgClient", dependencies: ["CSys", "CTLS", "DbgWire", "DbgPlatform"]),
        // No Foundation and no argument-parsing package: the installed client is one small
        // static file that starts about as fast as a C program (Sources/dbg/CommandLine).
        .executableTarget(name: "dbg", dependencies: ["DbgPlatform", "CSys", "DbgClient"]),
        .executableTarget(name: "dbg-bench", dependencies: [
            "DbgClient", "CSys", "LineSimulator", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: [.linkedLibrary("crypt")]),
        // A serial cable made of two PTY pairs, with a line rate and damage on demand
        // (the serial tests and Scripts/bench).
        .target(name: "LineSimulator"),
        .testTarget(name: "DbgWireTests", dependencies: ["DbgWire"]),
        .testTarget(name: "DbgPlatformTests", dependencies: ["DbgPlatform"]),
        .testTarget(name: "DbgAgentTests", dependencies: ["DbgAgent", "CSys", "CTLS", "DbgPlatform"]),
        // The tests make password hashes with the system's libcrypt (through CSys).
        .testTarget(name: "EndToEndTests", dependencies: ["DbgClient", "CSys", "LineSimulator"], exclude: ["Python"],
                    linkerSettings: [.linkedLibrary("crypt")]),
    ] + fuzzTargets
)

// libFuzzer targets, one per parser of untrusted bytes (Scripts/fuzz builds them with
// -sanitize=fuzzer,address in .build-fuzz; a plain build links them with an empty main).
var fuzzTargets: [Target] {
    let agent: [Target.Dependency] = ["DbgAgent", "DbgWire", "CSys"]
    let targets: [(String, [Target.Dependency])] = [
        ("Frames", agent), ("Messages", ["DbgWire"]), ("Link", ["DbgWire"]), ("Tar", agent),
        ("HTTP", agent), ("Command", agent), ("Accounts", agent), ("Telnet", ["DbgClient"]), ("MDNS", ["DbgPlatform"]),
        ("JSON", ["DbgWire"]), ("RPC", agent), ("TLS", agent + ["CTLS", "DbgPlatform"]), ("Bmap", ["DbgClient"]),
        ("Request", ["DbgWire"]), ("WebSocket", ["DbgWire"]), ("WebAPI", agent), ("Forward", ["DbgPlatform"]),
        ("Channels", ["DbgWire"]),
    ]
    return targets.map { name, dependencies in
        .executableTarget(name: "fuzz-\(name.lowercased())", dependencies: dependencies, path: "Tests/Fuzz/Fuzz\(name)")
    }
}
