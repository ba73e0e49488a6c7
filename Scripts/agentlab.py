"""What Scripts/fuzz-agent, Scripts/fault and Scripts/soak share: the Sutra v2 encoding
(an implementation of its own, from docs/PROTOCOL.md), a blocking connection, and an
agent started on accounts of its own."""
# The fuzzer and soak fork worker processes while threads of theirs run; a child that
# then resolves an address imports the idna codec and can hang on an import lock some
# thread held at the fork. Imported here, before any fork, it needs no lock later.
import encodings.idna  # noqa: F401
import os
import re
import socket
import struct
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IS_ROOT = os.geteuid() == 0
PASSWORD = "lab-pw"

# --- encoding (PROTOCOL.md sections 1 and 2) -------------------------------------------

def u8(v): return struct.pack("<B", v & 0xFF)
def u32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def i32(v): return struct.pack("<i", v)
def i64(v): return struct.pack("<q", v)
def u64(v): return struct.pack("<Q", v & 0xFFFFFFFFFFFFFFFF)
def string(b): return u32(len(b)) + b


def frame(service, op, rid, payload, kind=1, flags=0, reserved=0, length=None):
    n = len(payload) if length is None else length
    return b"S2" + struct.pack("<BBIHHII", kind, flags, service, op, reserved, rid, n) + payload


def read_exactly(sock, n, deadline):
    data = b""
    while len(data) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def receive_frame(sock, timeout):
    """(kind, service, op, id, payload) of the next frame."""
    deadline = time.monotonic() + timeout
    header = read_exactly(sock, 20, deadline)
    kind, _flags, service, op, _res, rid, length = struct.unpack("<BBIHHII", header[2:])
    return kind, service, op, rid, read_exactly(sock, length, deadline)


def call(sock, service, op, payload, rid, timeout=10):
    """Sends a request; returns (kind, payload) of its answer, skipping other frames."""
    sock.sendall(frame(service, op, rid, payload))
    deadline = time.monotonic() + timeout
    while True:
        kind, _s, _o, got, body = receive_frame(sock, max(0.01, deadline - time.monotonic()))
        if got == rid and kind in (2, 3):
            return kind, body


def error_code(body):
    return struct.unpack("<I", body[:4])[0] if len(body) >= 4 else -1


def connect(address, source="127.0.0.1"):
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def login(sock, user, rid=1):
    kind, body = call(sock, 0x60, 0x0601, string(user.encode()) + string(PASSWORD.encode()), rid)
    if kind != 2:
        raise RuntimeError("login refused: %r" % body[8:])
    return body[4:4 + struct.unpack("<I", body[:4])[0]]

# --- an agent to work on ---------------------------------------------------------------

class TestAgent:
    """A dbgd on accounts of its own: `user` with a home in `scratch`. Root runs as root;
    any other name is uid 2000 when this runs as root (so the agent switches to it), else
    the current user."""

    def __init__(self, binary, scratch, user="lab", listen="127.0.0.1:0", launcher=None, namespace=None, flags=()):
        self.scratch = scratch
        self.user = user
        self.home = os.path.join(scratch, "home")
        os.makedirs(self.home, exist_ok=True)
        uid = 0 if user == "root" else (2000 if IS_ROOT else os.getuid())
        self.uid = uid
        hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], capture_output=True, text=True,
                                check=True).stdout.strip()
        files = {"passwd": "%s:x:%d:%d:Lab:%s:/bin/sh\n" % (user, uid, uid + (100 if uid else 0), self.home),
                 "shadow": "%s:%s:19000:0:99999:7:::\n" % (user, hashed),
                 "group": "lab:x:3000:%s\n" % user}
        for name, text in files.items():
            with open(os.path.join(scratch, name), "w") as f:
                f.write(text)
        if IS_ROOT:
            os.chmod(scratch, 0o755)
        command = list(launcher or []) + [binary, "--listen", listen, "--auth", "shadow",
                                          "--passwd", os.path.join(scratch, "passwd"),
                                          "--shadow", os.path.join(scratch, "shadow"),
                                          "--group", os.path.join(scratch, "group"),
                                          "--distro-root", os.path.join(scratch, "distro")] + list(flags)
        if namespace:
            command = ["ip", "netns", "exec", namespace] + command
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        self.address = None
        ready = threading.Event()

        def read():
            for line in self.process.stdout:
                self.log.append(line.rstrip("\n"))
                match = re.search(r"listening on (\S+)", line)
                if match and not self.address:
                    self.address = match.group(1)
                if line.rstrip().endswith(" ready"):
                    ready.set()
            ready.set()
        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30) or not self.address:
            raise RuntimeError("dbgd did not start: " + " / ".join(self.log))
        # Under an emulator (or `ip netns exec`, which execs) the agent is this process.
        self.pid = self.process.pid

    def own_home(self):
        """Hands the home and what is in it to the user."""
        if IS_ROOT:
            for base, dirs, files in os.walk(self.home):
                for name in dirs + files:
                    os.lchown(os.path.join(base, name), self.uid, self.uid + (100 if self.uid else 0))
            os.chown(self.home, self.uid, self.uid + (100 if self.uid else 0))

    def alive(self):
        return self.process.poll() is None

    def measure(self):
        """Resident KiB, open descriptors, threads."""
        with open("/proc/%d/status" % self.pid) as f:
            status = f.read()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        return rss, len(os.listdir("/proc/%d/fd" % self.pid)), threads

    def children(self):
        """Processes whose parent is the agent (commands, shells, leftovers, zombies)."""
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.pid:
                found += 1
        return found

    def stop(self):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
