"""An agent for the end-to-end tests: the host build of dbgd (or DBGD_BIN), on
loopback and a Unix socket, with a shadow-file account of the current user's uid."""

import functools
import os
import pathlib
import random
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tty

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))

PASSWORD = "py-test-password"


def _dbgd() -> str:
    binary = os.environ.get("DBGD_BIN") or str(ROOT / ".build" / "debug" / "dbgd")
    if not os.access(binary, os.X_OK):
        pytest.skip("no dbgd at %s (swift build, or set DBGD_BIN)" % binary)
    return binary


def _dbgd_command(*arguments) -> list:
    """dbgd with `arguments`, under DBGD_LAUNCHER (an emulator) when it is set."""
    launcher = os.environ.get("DBGD_LAUNCHER")
    return ([launcher] if launcher else []) + [_dbgd(), *arguments]


@functools.lru_cache(maxsize=None)
def dbgd_features() -> set:
    """The optional parts this dbgd was built with: `dbgd --version`'s features line."""
    shown = subprocess.run(_dbgd_command("--version"), check=True, capture_output=True, text=True).stdout
    found = re.search(r"^features: (.*)$", shown, re.M)
    return set(found.group(1).split()) if found else set()


class Agent:
    """dbgd with the test account, on loopback and a Unix socket (and `extra` flags);
    `create_account=False` takes the passwd, shadow and group files already in `folder`."""

    def __init__(self, folder: pathlib.Path, extra=(), create_account: bool = True):
        self.folder = folder
        self.home = folder / "home"
        self.user = "pytester"
        if create_account:
            self.home.mkdir()
            (folder / "keys").mkdir(mode=0o755)
            hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True, capture_output=True,
                                    text=True).stdout.strip()
            (folder / "passwd").write_text("%s:x:%d:%d::%s:/bin/sh\n" % (self.user, os.getuid(), os.getgid(),
                                                                        self.home))
            (folder / "shadow").write_text("%s:%s:19000:0:99999:7:::\n" % (self.user, hashed))
            (folder / "group").write_text("")
        self.socket = folder / "agent.sock"
        self.log = folder / "agent.log"
        command = _dbgd_command(
            "--listen", "127.0.0.1:0", "--unix", str(self.socket), "--auth", "shadow",
            "--passwd", str(folder / "passwd"), "--shadow", str(folder / "shadow"), "--group", str(folder / "group"),
            "--state-dir", str(folder / "state"), "--authorized-keys", str(folder / "keys"), *extra)
        self.features = dbgd_features()
        if "distro" in self.features:
            command += ["--distro-root", str(folder / "distro")]
        self.process = subprocess.Popen(command, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            found = re.search(r"listening on (127\.0\.0\.1:\d+)", text)
            if found and " ready" in text:
                self.address = found.group(1)
                key = re.search(r"board key (SHA256:[A-Za-z0-9+/]+)", text)
                self.board_key = key.group(1) if key else None
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dbgd did not start: " + self.log.read_text(errors="replace"))

    def share_account(self, folder: pathlib.Path) -> None:
        """Puts this agent's passwd, shadow and group files and home into `folder`, for a
        second agent (`create_account=False`) that lets the same user in."""
        for name in ("passwd", "shadow", "group"):
            shutil.copy(self.folder / name, folder / name)
        (folder / "home").symlink_to(self.home)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def agent():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="dbgclient-"))
    os.chmod(folder, 0o755)
    running = Agent(folder)
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def board(agent):
    import dbgclient
    with dbgclient.connect(agent.address, user=agent.user, password=PASSWORD, timeout=30) as client:
        yield client


class Line:
    """Two PTY pairs joined by a thread: the agent's end and the client's end, each byte
    dropped or flipped with probability `damage` (both ways)."""

    def __init__(self, damage: float = 0.0):
        self.damage = damage
        self.damaged = 0
        self.masters, self.paths = [], []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)
            self.masters.append(master)
            self.paths.append(os.ttyname(slave))
            self._slaves = getattr(self, "_slaves", []) + [slave]
        self._running = True
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self):
        chance = random.Random(7)
        while self._running:
            ready, _, _ = select.select(self.masters, [], [], 0.1)
            for source in ready:
                try:
                    data = bytearray(os.read(source, 65536))
                except OSError:
                    continue
                if self.damage:
                    for i in range(len(data)):
                        if chance.random() < self.damage:
                            data[i] ^= 0x5A
                            self.damaged += 1
                target = self.masters[1 - self.masters.index(source)]
                view = memoryview(data)
                while view:
                    view = view[os.write(target, view):]

    def close(self):
        self._running = False
        self._thread.join()
        for fd in self.masters + self._slaves:
            os.close(fd)


@pytest.fixture
def serial_agent(agent, tmp_path):
    """Starts agents serving a `Line`'s agent end (sharing `agent`'s account and home);
    returns the agent, the client's target and the line."""
    pytest.importorskip("serial")

    def start(damage=0.0, baud=921600):
        line = Line(damage)
        folder = tmp_path / ("serial-%d" % len(started))
        folder.mkdir()
        agent.share_account(folder)
        running = Agent(folder, ["--serial", "%s,%d" % (line.paths[0], baud)], create_account=False)
        started.append((running, line))
        return running, "serial:%s,%d" % (line.paths[1], baud), line
    started = []
    yield start
    for running, line in started:
        running.stop()
        line.close()
