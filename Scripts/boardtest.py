"""Scripts/board-test's driver: assembles the board's initramfs, boots it in QEMU, and
tests dbgd there through the real `dbg` client and the board's own console."""
import argparse
import gzip
import hashlib
import io
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "board-pw"
MINIMAL_IDLE_RSS_KB = 512
# The kernel's virtio drivers the board needs (each machine's transport, then the net and
# console devices), and kernel TLS with the ciphers dbgd's suites use (AES-GCM,
# ChaCha20-Poly1305), so that the board's dbgd hands its records to the kernel after each
# handshake; rcS loads them and what they depend on, in the order /lib/modules/load-order
# gives (the initramfs has no modules.dep, nor a modprobe for the crypto API to load what it
# lacks).
MODULES = ["virtio_net", "virtio_console", "tls", "ctr", "gcm", "ghash-generic", "chacha_generic", "poly1305_generic",
           "chacha20poly1305"]
MACHINES = {
    "aarch64": {"qemu": "qemu-system-aarch64", "machine": ["-M", "virt", "-cpu", "cortex-a53"], "console": "ttyAMA0",
                "transport": "virtio_mmio", "devices": ["virtio-net-device", "virtio-serial-device"]},
    # q35, not microvm: under software emulation on a busy host the kernel's calibration of
    # the TSC against the PIT fails now and then, and microvm has no other clock to calibrate
    # against (no HPET, no ACPI PM timer): the kernel then stopped right after "tsc: Marking
    # TSC unstable due to could not calculate TSC khz" (8 boots in 12 with two CPU hogs
    # beside QEMU 7.2). q35 has an HPET, which the kernel calibrates against instead.
    "x86_64": {"qemu": "qemu-system-x86_64", "machine": ["-M", "q35", "-cpu", "max"], "console": "ttyS0",
               "transport": "virtio_pci", "devices": ["virtio-net-pci", "virtio-serial-pci"]},
}


class Failure(Exception):
    pass


def log(message):
    print(f"board-test: {message}", flush=True)


# --- the initramfs -------------------------------------------------------------------

class Cpio:
    """A newc archive, every entry owned by root: what the kernel unpacks as its rootfs."""

    def __init__(self):
        self.out = io.BytesIO()
        self.inode = 1

    def _entry(self, name, mode, data=b"", device=(0, 0)):
        header = "070701" + "".join(f"{v:08x}" for v in [
            self.inode, mode, 0, 0, 1, 0, len(data), 0, 0, device[0], device[1], len(name) + 1, 0])
        self.inode += 1
        self.out.write(header.encode() + name.encode() + b"\0")
        self.out.write(b"\0" * (-(110 + len(name) + 1) % 4))
        self.out.write(data)
        self.out.write(b"\0" * (-len(data) % 4))

    def directory(self, name, mode=0o755):
        self._entry(name, stat.S_IFDIR | mode)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def character_device(self, name, major, minor):
        self._entry(name, stat.S_IFCHR | 0o600, device=(major, minor))

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return gzip.compress(self.out.getvalue(), compresslevel=1)


def deb_members(deb, work):
    """Unpacks a .deb's data into a folder under `work` (once) and returns that folder."""
    target = os.path.join(work, os.path.basename(deb)[:-4])
    if not os.path.isdir(target):
        scratch = target + ".partial"
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", deb, scratch], check=True)
        os.rename(scratch, target)
    return target


def load_order(wanted, modules):
    """`wanted` and the modules they depend on (each module's depends= in its .modinfo),
    dependencies first."""
    order = []

    def visit(name):
        if name in order:
            return
        if name not in modules:
            raise Failure(f"the kernel package has no {name}.ko")
        match = re.search(rb"depends=([a-z0-9_,-]*)", read(modules[name]))
        for dependency in (match.group(1).decode().split(",") if match else []):
            if dependency:
                visit(dependency)
        order.append(name)

    for name in wanted:
        visit(name)
    return order


def read(path, mode="rb"):
    with open(path, mode) as f:
        return f.read()


def shadow_hash(password):
    return subprocess.run(["openssl", "passwd", "-6", "-salt", "boardtest", password],
                          check=True, capture_output=True, text=True).stdout.strip()


def release_files(tarball):
    """The release's files by their path inside it, after `sha256sum -c SHA256SUMS`."""
    files = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.isfile():
                files[member.name.split("/", 1)[1]] = tar.extractfile(member).read()
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise Failure(f"the release's {name} does not match its SHA256SUMS")
    return files


def build_initramfs(args, release, kernel_root, busybox_root, dbgd_options):
    """The board's rootfs: BusyBox, the kernel's virtio modules, the test's rcS and inittab,
    accounts, and dbgd installed as board/README.md says."""
    cpio = Cpio()
    for d in ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "etc/init.d", "etc/default", "lib", "lib/modules",
              "proc", "sys", "dev", "tmp", "root", "var"]:
        cpio.directory(d, 0o1777 if d == "tmp" else (0o700 if d == "root" else 0o755))
    cpio.character_device("dev/console", 5, 1)  # init's stdin and stdout, before devtmpfs
    cpio.file("bin/busybox", read(os.path.join(busybox_root, "bin/busybox")), 0o755)
    cpio.symlink("bin/sh", "busybox")
    cpio.symlink("init", "bin/busybox")
    cpio.symlink("sbin/init", "../bin/busybox")
    busybox = os.path.join(busybox_root, "bin/busybox")
    emulator = [] if args.arch == os.uname().machine else ["qemu-" + args.arch + "-static"]
    applets = subprocess.run(emulator + [busybox, "--list-full"], check=True, capture_output=True, text=True).stdout.split()
    for applet in applets:
        if applet not in ("bin/busybox", "bin/sh", "sbin/init", "linuxrc"):
            cpio.symlink(applet, "/bin/busybox")
    modules = {}
    for folder, _, files in os.walk(os.path.join(kernel_root, "lib/modules")):
        for name in files:
            if name.endswith(".ko"):
                modules[name[:-3]] = os.path.join(folder, name)
    order = load_order([MACHINES[args.arch]["transport"], *MODULES], modules)
    for module in order:
        cpio.file(f"lib/modules/{module}.ko", read(modules[module]))
    cpio.file("lib/modules/load-order", "".join(m + "\n" for m in order).encode())
    test = os.path.join(ROOT, "board", "test")
    cpio.file("etc/inittab", read(os.path.join(test, "inittab")))
    cpio.file("etc/init.d/rcS", read(os.path.join(test, "rcS")), 0o755)
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.file("etc/group", b"root:x:0:\n")
    cpio.file("etc/shadow", f"root:{shadow_hash(PASSWORD)}:19000:0:99999:7:::\n".encode(), 0o600)
    cpio.file("etc/profile", b"export PS1='board# '\n")
    # As board/README.md says: from the release, the binary, the init script, the options.
    cpio.file("usr/sbin/dbgd", release["dbgd"], 0o755)
    cpio.file("etc/init.d/S50dbgd", release["init.d/S50dbgd"], 0o755)
    defaults = release["default/dbgd"].decode()
    defaults = re.sub(r'^DBGD_OPTS=.*$', f'DBGD_OPTS="{dbgd_options}"', defaults, flags=re.M)
    cpio.file("etc/default/dbgd", defaults.encode())
    return cpio.finish()


def distro_archive(busybox_root):
    """A tiny rootfs (BusyBox and its sh) as .tar.gz, for distro install on the board."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"]:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = read(os.path.join(busybox_root, "bin/busybox"))
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for name in ["sh", "echo", "cat", "uname"]:
            info = tarfile.TarInfo("bin/" + name)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        data = b"ID=boardtest\n"
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# --- the board -----------------------------------------------------------------------

class Board:
    """One QEMU run: its console (a Unix socket to the board's root shell), the TCP port
    forwarded to the board's 5037, and the host end (a PTY) of its virtio console."""

    def __init__(self, args, kernel, initrd, folder):
        self.folder = folder
        self.console_path = os.path.join(folder, "console.sock")
        self.port = free_port()
        machine = MACHINES[args.arch]
        command = [machine["qemu"], *machine["machine"], "-m", "512", "-smp", "2", "-nodefaults", "-no-user-config",
                   "-display", "none", "-monitor", "none",
                   "-kernel", kernel, "-initrd", initrd,
                   "-append", f"console={machine['console']} quiet panic=-1 "
                   + os.environ.get("DBG_BOARD_KERNEL_ARGS", ""),
                   "-chardev", f"socket,id=con,path={self.console_path},server=on,wait=off",
                   "-serial", "chardev:con",
                   "-netdev", f"user,id=net,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:{self.port}-:5037",
                   "-device", f"{machine['devices'][0]},netdev=net",
                   "-device", machine["devices"][1], "-chardev", "pty,id=line", "-device", "virtconsole,chardev=line"]
        self.started = time.monotonic()
        self.qemu = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.qemu.stdout.readline()
        match = re.search(r"(/dev/pts/\d+)", line)
        if not match:
            raise Failure(f"qemu did not make the virtio console's PTY: {line!r}")
        self.serial = match.group(1)
        self.console = None
        self.console_output = b""
        self.console_closed = False
        self.transcript = open(os.path.join(folder, "console.log"), "wb")

    def stop(self):
        if self.qemu.poll() is None:
            self.qemu.kill()
            self.qemu.wait()

    # The console: a root shell on the board, for what the test does there as a person
    # would. A thread reads it from the start, into the transcript and a buffer.
    def attach_console(self, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.console = socket.socket(socket.AF_UNIX)
                self.console.connect(self.console_path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failure("the board's console socket did not appear")
                time.sleep(0.01)
        self.arrived = threading.Condition()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                data = self.console.recv(65536)
            except OSError:
                data = b""
            with self.arrived:
                if not data:
                    self.console_closed = True
                    self.arrived.notify_all()
                    return
                self.transcript.write(data)
                self.transcript.flush()
                self.console_output += data
                self.arrived.notify_all()

    def _read_console(self, until, timeout):
        deadline = time.monotonic() + timeout
        with self.arrived:
            while until not in self.console_output:
                left = deadline - time.monotonic()
                if left <= 0 or self.console_closed:
                    tail = self.console_output[-2000:].decode(errors="replace")
                    raise Failure(f"no {until!r} on the board's console within {timeout} s; it shows:\n{tail}")
                self.arrived.wait(min(left, 1))
            index = self.console_output.index(until) + len(until)
            before, self.console_output = self.console_output[:index], self.console_output[index:]
        return before

    def console_tail(self, size=1500):
        with self.arrived:
            return self.console_output[-size:].decode(errors="replace")

    def forget_console_output(self):
        with self.arrived:
            self.console_output = b""

    def wait_for_shell(self, timeout=120):
        """Until the console's shell answers (after rcS, which starts dbgd)."""
        self._read_console(b"rcS: boot done", timeout)
        self.run("true", timeout=30)

    def send(self, command):
        """Types a command on the console without waiting for it (reboot)."""
        self.console.sendall(command.encode() + b"\n")

    def run(self, command, timeout=60, check=True):
        """Runs a shell command on the board's console: (status, output). Its output is
        what comes between two markers that the command line prints (each written split
        in two on the line, so that the shell's echo of the line does not match)."""
        token = time.monotonic_ns()
        start, end = f"@@start-{token}@@", f"@@end-{token}@@"
        self.console.sendall(f'echo "@@""start-{token}@@"; {command}; echo "@@""end-{token}@@ $?"\n'.encode())
        self._read_console(start.encode() + b"\r\n", timeout)
        body = self._read_console(end.encode(), timeout).decode(errors="replace")[:-len(end)]
        status_line = self._read_console(b"\n", 10).decode(errors="replace").strip()
        status = int(status_line) if status_line.lstrip("-").isdigit() else -1
        body = body.replace("\r\n", "\n")
        if check and status != 0:
            raise Failure(f"on the board, `{command}` exited {status}:\n{body}")
        return status, body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """The host's `dbg`, pointed at one transport of the board."""

    def __init__(self, dbg, host, folder):
        self.dbg, self.host = dbg, host
        # TLS (the board files' --require-tls): the board's key is recorded on first contact
        # in this run's own known_agents.
        self.env = dict(os.environ, DBG_HOST=host, DBG_PASSWORD=PASSWORD, DBG_USER="root", DBG_ACCEPT_NEW="1",
                        XDG_CONFIG_HOME=os.path.join(folder, "config"))
        self.folder = folder

    def __call__(self, *arguments, input=None, check=True, timeout=120):
        # Without input, stdin is /dev/null: nothing to forward, whatever this script's own is.
        result = subprocess.run([self.dbg, *arguments], input=input, stdin=None if input is not None else subprocess.DEVNULL,
                                capture_output=True, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise Failure(f"dbg {' '.join(arguments)} over {self.host} exited {result.returncode}: "
                          f"{result.stderr.decode(errors='replace').strip()}")
        return result

    def ping_until_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self("ping", "-c", "1", "--connect-timeout", "2", check=False, timeout=30).returncode == 0:
                return True
            time.sleep(0.05)
        return False


def expect(condition, message):
    if not condition:
        raise Failure(message)


def core_suite(client, figures, label, transfer_bytes, busybox_root, distro=False):
    """The end-to-end suite's core through the real client: login, exec, streaming, shell,
    push/pull verified, a forwarded connection, distro install and run."""
    out = client("exec", "--", "uname", "-m").stdout.decode().strip()
    expect(out in ("aarch64", "x86_64"), f"uname -m over {label}: {out!r}")
    expect(client("sh", "echo $((6 * 7))").stdout == b"42\n", f"sh over {label}")
    status = client("exec", "--", "sh", "-c", "exit 7", check=False).returncode
    expect(status == 7, f"exec's exit status over {label}: {status}")
    # Streaming: stdin through sha256sum on the board.
    data = os.urandom(1 << 20)
    digest = client("exec", "--", "sha256sum", input=data).stdout.decode().split()[0]
    expect(digest == hashlib.sha256(data).hexdigest(), f"streamed stdin over {label}")
    # A shell fed a script on stdin ends with the script's status (and no terminal noise).
    shell = client("shell", input=b"id -u\necho done\n", check=False)
    expect(shell.returncode == 0 and shell.stdout == b"0\ndone\n", f"dbg shell < script over {label}: "
           f"{shell.returncode} {shell.stdout!r}")
    shell = client("shell", input=b"exit 3\n", check=False)
    expect(shell.returncode == 3, f"dbg shell's status over {label}: {shell.returncode}")
    push_and_pull(client, figures, label, transfer_bytes)
    forward_through(client, label)
    if distro:
        archive = os.path.join(client.folder, "rootfs.tar.gz")
        with open(archive, "wb") as f:
            f.write(distro_archive(busybox_root))
        client("push", "--quiet", archive, "/tmp/rootfs.tar.gz")
        client("distro", "install", "/tmp/rootfs.tar.gz")
        out = client("distro", "run", "--", "cat", "/etc/os-release").stdout
        expect(out == b"ID=boardtest\n", f"distro run over {label}: {out!r}")
        client("distro", "remove")


def minimal_suite(client, figures, label, transfer_bytes):
    """What the minimal profile has, through the real client: login, captured commands
    (dbg exec and sh run as --capture without streaming processes), push/pull verified."""
    captured = client("exec", "--", "uname", "-m")
    out = captured.stdout.decode().strip()
    expect(out in ("aarch64", "x86_64") and b"--capture" in captured.stderr, f"uname -m over {label}: {out!r}, "
           f"{captured.stderr!r}")
    expect(client("sh", "echo $((6 * 7))").stdout == b"42\n", f"sh over {label}")
    status = client("exec", "--", "sh", "-c", "exit 7", check=False).returncode
    expect(status == 7, f"exec's exit status over {label}: {status}")
    refused = client("exec", "--", "cat", input=b"data", check=False)
    expect(refused.returncode != 0 and b"DBG_STREAMS=OFF" in refused.stderr, f"exec with stdin over {label}: "
           f"{refused.returncode} {refused.stderr!r}")
    push_and_pull(client, figures, label, transfer_bytes)


def push_and_pull(client, figures, label, transfer_bytes):
    """Push and pull, verified by hash and by content; their rates go into `figures`."""
    payload = os.urandom(transfer_bytes)
    local = os.path.join(client.folder, f"payload-{label}")
    with open(local, "wb") as f:
        f.write(payload)
    started = time.monotonic()
    client("push", "--quiet", local, "/tmp/payload")
    pushed = time.monotonic() - started
    remote_hash = client("hash", "/tmp/payload").stdout.decode().split()[0]
    expect(remote_hash == hashlib.sha256(payload).hexdigest(), f"the pushed file's hash over {label}")
    back = local + ".back"
    started = time.monotonic()
    client("pull", "--quiet", "/tmp/payload", back)
    pulled = time.monotonic() - started
    expect(read(back) == payload, f"the pulled file over {label}")
    client("rm", "/tmp/payload")
    mib = transfer_bytes / (1 << 20)
    figures[f"push over {label}"] = f"{mib / pushed:.2f} MiB/s ({mib:g} MiB in {pushed:.2f} s)"
    figures[f"pull over {label}"] = f"{mib / pulled:.2f} MiB/s ({mib:g} MiB in {pulled:.2f} s)"


def forward_through(client, label):
    """`dbg forward` of the board's own dbgd port: a second dbg goes through the first
    one's connection (TLS inside the forwarded stream) and runs a command and a push."""
    forward = subprocess.Popen([client.dbg, "forward", "tcp:0", "tcp:5037"], env=client.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = forward.stdout.readline()
        expect(line.startswith("forwarding tcp:127.0.0.1:"), f"dbg forward over {label} printed {line!r}")
        through = Client(client.dbg, "tls://" + line.split()[1].removeprefix("tcp:"), client.folder)
        out = through("exec", "--", "uname", "-m").stdout.decode().strip()
        expect(out in ("aarch64", "x86_64"), f"uname -m through dbg forward over {label}: {out!r}")
        data = os.urandom(256 << 10)
        digest = through("exec", "--", "sha256sum", input=data).stdout.decode().split()[0]
        expect(digest == hashlib.sha256(data).hexdigest(), f"streamed stdin through dbg forward over {label}")
    finally:
        forward.terminate()
        forward.wait(timeout=30)


def init_scenarios(board, tcp, figures):
    """What an integrator does with the init script, on the board's console."""
    def dbgd_pids():
        return board.run("pidof dbgd || true")[1].split()

    pids = dbgd_pids()
    expect(len(pids) == 1, f"one dbgd after boot, not {pids}")
    status, out = board.run("/etc/init.d/S50dbgd start")
    expect("already running" in out and dbgd_pids() == pids, f"a second start: {out!r}, dbgd pids {dbgd_pids()}")
    expect(board.run("/etc/init.d/S50dbgd status")[0] == 0, "status while running")
    figures["dbgd RSS on the board (idle after the suite)"] = f"{rss_on_board(board)} kB"

    status, out = board.run("/etc/init.d/S50dbgd stop")
    expect("OK" in out and not dbgd_pids(), f"stop: {out!r}, dbgd pids {dbgd_pids()}")
    expect(board.run("test -e /var/run/dbgd.pid", check=False)[0] != 0, "stop leaves no pidfile")
    expect(board.run("/etc/init.d/S50dbgd status", check=False)[0] == 3, "status when stopped is 3")
    status, out = board.run("/etc/init.d/S50dbgd stop", check=False)
    expect(status == 0 and "not running" in out, f"stop when stopped: {status} {out!r}")

    # A bad option: FAIL, the reason, a non-zero status, nothing left running.
    board.run("cp /etc/default/dbgd /tmp/default.saved && echo 'DBGD_OPTS=\"--bogus\"' >> /etc/default/dbgd")
    status, out = board.run("/etc/init.d/S50dbgd start", check=False)
    expect(status == 2 and "FAIL" in out and "unknown option '--bogus'" in out and not dbgd_pids(),
           f"a bad option: {status} {out!r}")
    board.run("cp /tmp/default.saved /etc/default/dbgd")

    # The port taken by another program: FAIL with the reason.
    board.run("nc -l -p 5037 >/dev/null 2>&1 & echo $! > /tmp/nc.pid; sleep 1")
    status, out = board.run("/etc/init.d/S50dbgd start", check=False)
    expect(status == 1 and "FAIL" in out and "cannot listen" in out, f"a port in use: {status} {out!r}")
    board.run("kill $(cat /tmp/nc.pid)")

    # Without /var/run and /var/log: the script makes them.
    board.run("rm -rf /var/run /var/log")
    status, out = board.run("/etc/init.d/S50dbgd start", check=False)
    expect(status == 0 and "OK" in out, f"start without /var/run and /var/log: {status} {out!r}")
    expect(tcp("ping", "-c", "1").returncode == 0, "serving right after start returned")
    first = dbgd_pids()
    status, out = board.run("/etc/init.d/S50dbgd restart", check=False)
    expect(status == 0 and dbgd_pids() != first and len(dbgd_pids()) == 1, f"restart: {out!r}")
    expect(tcp("ping", "-c", "1").returncode == 0, "serving after restart")

    # Supervised by init: respawned after kill -9.
    board.run("/etc/init.d/S50dbgd stop")
    board.run("echo '::respawn:/etc/init.d/S50dbgd run' >> /etc/inittab && kill -HUP 1")
    supervised = wait_for(lambda: dbgd_pids(), 30, "dbgd started by init's respawn")
    expect(tcp.ping_until_ready(30), "the respawned dbgd serves")
    board.run(f"kill -9 {supervised[0]}")
    respawned = wait_for(lambda: [p for p in dbgd_pids() if p != supervised[0]], 30, "dbgd respawned after kill -9")
    started = time.monotonic()
    expect(tcp.ping_until_ready(30), "the agent respawned after kill -9 serves")
    figures["respawn after kill -9 to serving"] = f"{time.monotonic() - started:.2f} s"
    expect(board.run("/etc/init.d/S50dbgd status")[1].strip() == f"dbgd is running (pid {respawned[0]})",
           "status names the respawned dbgd")


def rss_on_board(board):
    """dbgd's resident memory on the board, in kB."""
    return int(board.run("grep VmRSS /proc/$(cat /var/run/dbgd.pid)/status")[1].split()[1])


def wait_for(probe, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise Failure(f"timed out waiting for {what}")


def boot(args, kernel, initrd, folder):
    """QEMU started and dbgd answering over TCP: the board and its two clients."""
    board = Board(args, kernel, initrd, folder)
    board.attach_console()
    tcp = Client(args.dbg, f"{'' if args.minimal else 'tls://'}127.0.0.1:{board.port}", folder)
    serial = Client(args.dbg, f"serial:{board.serial}", folder)
    if not tcp.ping_until_ready(120):
        raise Failure(f"dbgd did not answer over TCP within 120 s of starting QEMU; the console ended with:\n"
                      f"{board.console_tail()}")
    return board, tcp, serial


def minimal_profile(board, tcp, serial, figures):
    """The minimal profile's board: its suite over both transports, then power off."""
    minimal_suite(tcp, figures, "TCP", 1 << 20)
    minimal_suite(serial, figures, "serial", 256 << 10)
    log("minimal profile's suite over TCP and the serial line: passed")
    figures["dbgd RSS on the board (idle after the suite)"] = f"{rss_on_board(board)} kB"
    power_off(board)


def full_profile(board, tcp, serial, figures, folder, busybox_root):
    """The release's board: kernel TLS, the core suite over both transports, the init
    script's scenarios, a reboot, power off."""
    status, tls_line = board.run("grep '^dbgd: tls: ' /var/log/dbgd.log", check=False)
    expect("records by the kernel (kTLS)" in tls_line, f"the board's dbgd uses kernel TLS: {tls_line.strip()}")
    core_suite(tcp, figures, "TCP", 8 << 20, busybox_root, distro=True)
    log("core suite over TCP: passed")
    # The kernel counts the sockets whose records it did (TLS_TX and TLS_RX set).
    _, counters = board.run("cat /proc/net/tls_stat")
    counts = dict(line.split()[:2] for line in counters.splitlines() if len(line.split()) >= 2)
    expect(int(counts.get("TlsTxSw", 0)) > 0 and int(counts.get("TlsRxSw", 0)) > 0,
           f"the TLS connections' records were the kernel's: {counters.strip()}")
    figures["TLS connections whose records the kernel did"] = counts["TlsTxSw"]
    core_suite(serial, figures, "serial", 1 << 20, busybox_root)
    log("core suite over the serial line: passed")
    init_scenarios(board, tcp, figures)
    log("init script scenarios: passed")
    # Reboot through dbg reboot: init stops everything, the board comes back, and so
    # does dbgd.
    board.forget_console_output()
    tcp("reboot")
    rebooted = time.monotonic()
    board.wait_for_shell()
    # The initramfs keeps nothing across a reboot, /var/lib/dbgd included: the board
    # comes back with a new key, which the client must refuse until told otherwise.
    deadline, refused = time.monotonic() + 60, False
    while not refused and time.monotonic() < deadline:
        answer = tcp("ping", "-c", "1", "--connect-timeout", "2", check=False, timeout=30)
        refused = answer.returncode == 255 and b"HAS CHANGED" in answer.stderr
    expect(refused, "dbgd serves after a reboot, and its new key is refused until the old one is forgotten")
    figures["reboot to serving"] = f"{time.monotonic() - rebooted:.2f} s"
    os.remove(os.path.join(folder, "config", "dbg", "known_agents"))
    expect(tcp.ping_until_ready(10), "the board's new key is accepted once the old one is forgotten")
    board.run("/etc/init.d/S50dbgd status")
    power_off(board)


def power_off(board):
    board.send("poweroff")
    try:
        board.qemu.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise Failure("the board did not power off")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", required=True, choices=sorted(MACHINES))
    parser.add_argument("--kernel-deb", required=True)
    parser.add_argument("--busybox-deb", required=True)
    parser.add_argument("--release", required=True, help="dbgd-VERSION-ARCH.tar.xz from Scripts/release")
    parser.add_argument("--dbg", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--minimal", metavar="DBGD",
                        help="the minimal profile's dbgd instead of the release's: TCP in cleartext and the serial "
                             "line, its suite, the idle memory; not the init script's scenarios")
    args = parser.parse_args()
    started = time.monotonic()
    kernel_root = deb_members(args.kernel_deb, args.work)
    busybox_root = deb_members(args.busybox_deb, args.work)
    kernels = [n for n in os.listdir(os.path.join(kernel_root, "boot")) if n.startswith("vmlinuz-")]
    kernel = os.path.join(kernel_root, "boot", kernels[0])
    folder = tempfile.mkdtemp(prefix="dbg-board-")
    initrd = os.path.join(folder, "initramfs.cpio.gz")
    release = release_files(args.release)
    options = "--listen [::]:5037 --require-tls --mdns --serial /dev/hvc0"
    if args.minimal:
        release["dbgd"] = read(args.minimal)
        options = "--listen [::]:5037 --serial /dev/hvc0"  # no TLS, no mDNS in this profile
    with open(initrd, "wb") as f:
        f.write(build_initramfs(args, release, kernel_root, busybox_root, options))
    log(f"{args.arch}: kernel {kernels[0]}, initramfs {os.path.getsize(initrd) // 1024} KiB, "
        f"{os.path.basename(args.release)}, dbgd {len(release['dbgd'])} bytes"
        + (f" (the minimal profile's, {args.minimal})" if args.minimal else ""))
    figures = {}
    board = None
    try:
        board, tcp, serial = boot(args, kernel, initrd, folder)
        figures["QEMU start to first ping over TCP"] = f"{time.monotonic() - board.started:.2f} s"
        board.wait_for_shell()
        idle = rss_on_board(board)
        figures["dbgd RSS on the board (idle after boot)"] = f"{idle} kB"
        # The minimal profile's goal (README, "Build profiles"), with its start-up code laid
        # out first (Sources/dbgd/firmware): the board runs it from the initramfs.
        expect(not args.minimal or idle <= MINIMAL_IDLE_RSS_KB,
               f"the minimal dbgd idles in at most {MINIMAL_IDLE_RSS_KB} kB (has {idle} kB)")
        if args.minimal:
            minimal_profile(board, tcp, serial, figures)
        else:
            full_profile(board, tcp, serial, figures, folder, busybox_root)
    except Failure as failure:
        log(f"{args.arch}: FAILED: {failure}")
        log(f"the console's transcript: {os.path.join(folder, 'console.log')}")
        if board:
            board.stop()
        return 1
    board.stop()
    for name, value in figures.items():
        log(f"{args.arch}: {name}: {value}")
    log(f"{args.arch}: passed in {time.monotonic() - started:.0f} s")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
