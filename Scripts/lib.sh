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
