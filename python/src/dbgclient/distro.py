"""The distro service (docs/PROTOCOL.md, section 7): a Linux root file system under the
agent's --distro-root, to install, run commands and shells in, and remove. The caller
is the connection's most recent session (on a Unix socket, the peer's user)."""

from typing import Dict, Optional, Union

from . import messages as m
from .process import DistroStreams, Process
from .session import ExecResult
from .shell import DistroShells, Shell


def _env(env: Union[None, str, Dict[str, str]]) -> str:
    if env is None:
        return ""
    return env if isinstance(env, str) else "\n".join("%s=%s" % item for item in env.items())


def _run_result(args, result: m.RunResult) -> ExecResult:
    """A distro Run as an `ExecResult`: RunResult has no truncation flags; when output
    was cut, stderr's last line says which (`dbgd: output cut: stdout was longer ...`)."""
    last = result.stderr.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    cut = last.startswith(b"dbgd: output cut:")
    return ExecResult(args, m.ExecResult(exit_code=result.exit_code, stdout=result.stdout, stderr=result.stderr,
                                         stdout_truncated=cut and b"stdout" in last,
                                         stderr_truncated=cut and b"stderr" in last))


class Distro:
    """What `Client.distro` gives."""

    def __init__(self, connection):
        self._connection = connection

    def status(self) -> m.StatusResponse:
        """`installed`, `path` (the root) and `size` (bytes on disk)."""
        return self._connection.distro("Status", m.Empty())

    def install(self, url: str = "", timeout: Optional[float] = 3600.0) -> None:
        """Unpacks a rootfs archive (tar, gzip, xz or zstd) from a board path, file:// or
        http:// URL (empty: the agent's --distro-url); waits until it is in place."""
        saved = self._connection.timeout
        self._connection.set_timeout(timeout)
        try:
            self._connection.distro("Install", m.InstallRequest(url=url))
        finally:
            self._connection.set_timeout(saved)

    def remove(self) -> None:
        self._connection.distro("Remove", m.Empty())

    def run(self, command: str, workdir: str = "", bind: str = "", env=None, input: bytes = b"") -> ExecResult:
        """Runs `command` (split like RunCommand's, no shell) inside the rootfs."""
        return _run_result(command, self._connection.distro("Run", m.RunRequest(
            command=command, workdir=workdir, bind=bind, env=_env(env), input=input)))

    def popen(self, command: str, workdir: str = "", bind: str = "", env=None, terminal: bool = False, rows: int = 0,
              cols: int = 0, timeout: int = 0) -> Process:
        """A streamed run (RunStart): a `Process`, as `Client.popen` gives."""
        started = self._connection.distro("RunStart", m.RunStartRequest(
            command=command, workdir=workdir, bind=bind, env=_env(env), terminal=terminal, rows=rows, cols=cols,
            timeout_sec=timeout))
        return Process(self._connection, DistroStreams(), started, command)

    def shell(self, rows: int = 24, cols: int = 80, workdir: str = "", bind: str = "", env=None) -> Shell:
        """The rootfs's /bin/sh on a new PTY (a `Shell`)."""
        shells = DistroShells(workdir, bind, _env(env))
        return Shell(self._connection, shells, shells.open(self._connection, rows, cols))
