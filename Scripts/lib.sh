# Shared by the Scripts: run from the repository root with Swift on PATH.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
ARCHES=(x86_64 aarch64)

# The command that runs a firmware binary of ARCH on this machine.
launcher_for() {
    if [ "$1" = "$(uname -m)" ]; then echo ""; else echo "qemu-$1-static"; fi
}

# Where Scripts/build-static puts a profile's firmware: build/ARCH for the full profile
# (what the tests use), build/PROFILE-ARCH for the others.
PROFILES=(minimal standard full)
profile_build_dir() {
    case $1 in
        full) echo "build/$2" ;;
        minimal|standard) echo "build/$1-$2" ;;
        *) echo "unknown profile '$1' (minimal, standard or full)" >&2; return 1 ;;
    esac
}
