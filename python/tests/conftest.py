"""An agent for the end-to-end tests: the host build of dbgd (or DBGD_BIN), on
loopback and a Unix socket, with a shadow-file account of the current user's uid."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "src"))

PASSWORD = "py-test-password"


def _dbgd() -> str:
    binary = os.environ.get("DBGD_BIN") or str(ROOT / ".build" / "debug" / "dbgd")
    if not os.access(binary, os.X_OK):
        pytest.skip("no dbgd at %s (swift build, or set DBGD_BIN)" % binary)
    return binary


class Agent:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.home = folder / "home"
        self.home.mkdir()
        self.user = "pytester"
        hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True, capture_output=True,
                                text=True).stdout.strip()
        (folder / "passwd").write_text("%s:x:%d:%d::%s:/bin/sh\n" % (self.user, os.getuid(), os.getgid(), self.home))
        (folder / "shadow").write_text("%s:%s:19000:0:99999:7:::\n" % (self.user, hashed))
        (folder / "group").write_text("")
        self.socket = folder / "agent.sock"
        self.log = folder / "agent.log"
        launcher = os.environ.get("DBGD_LAUNCHER")
        command = ([launcher] if launcher else []) + [
            _dbgd(), "--listen", "127.0.0.1:0", "--unix", str(self.socket), "--auth", "shadow",
            "--passwd", str(folder / "passwd"), "--shadow", str(folder / "shadow"), "--group", str(folder / "group"),
            "--state-dir", str(folder / "state")]
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
