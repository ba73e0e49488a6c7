"""Interactive shells on a PTY (dbg's ShellOpen, a distro's, and their events)."""

import time
from typing import Optional

from . import messages as m
from .wire import DBG, DISTRO


class DbgShells:
    """The dbg service's shells (the user's login shell)."""

    service = DBG
    output, exit = m.OP["ShellOutput"], m.OP["ShellExit"]

    def __init__(self, token: str):
        self.token = token

    def open(self, connection, rows: int, cols: int, cwd: str = "") -> int:
        request = m.ShellOpenRequest(token=self.token, cwd=cwd, rows=rows, cols=cols)
        return connection.dbg("ShellOpen", request).session_id

    def input(self, sid: int, data: bytes):
        return m.OP["ShellInput"], m.ShellInputRequest(token=self.token, session_id=sid, data=data)

    def resize(self, sid: int, rows: int, cols: int):
        return m.OP["ShellResize"], m.ShellResizeRequest(token=self.token, session_id=sid, rows=rows, cols=cols)

    def close(self, sid: int):
        return m.OP["ShellClose"], m.ShellCloseRequest(token=self.token, session_id=sid)


class DistroShells:
    """A distro's shells (its /bin/sh, inside the rootfs)."""

    service = DISTRO
    output, exit = m.DISTRO_OP["ShellOutput"], m.DISTRO_OP["ShellExit"]

    def __init__(self, workdir: str = "", bind: str = "", env: str = ""):
        self.where = dict(workdir=workdir, bind=bind, env=env)

    def open(self, connection, rows: int, cols: int) -> int:
        return connection.distro("ShellOpen", m.DistroShellOpenRequest(rows=rows, cols=cols, **self.where)).session_id

    def input(self, sid: int, data: bytes):
        return m.DISTRO_OP["ShellInput"], m.ShellData(session_id=sid, data=data)

    def resize(self, sid: int, rows: int, cols: int):
        return m.DISTRO_OP["ShellResize"], m.DistroShellResizeRequest(session_id=sid, rows=rows, cols=cols)

    def close(self, sid: int):
        return m.DISTRO_OP["ShellClose"], m.ShellSession(session_id=sid)


class Shell:
    """A shell on a new PTY (the user's login shell, or a distro's). `read` gives its
    output as it comes (b"" once it has exited: `exit_status` is then set), `write`
    sends keystrokes, `resize` the terminal's size; `fileno` is the connection's socket,
    readable when the agent sent something (what the client already received is seen by
    `pending`)."""

    def __init__(self, connection, shells, session_id: int):
        self._connection = connection
        self._shells = shells
        self.session_id = session_id
        self.exit_status: Optional[int] = None
        self._output = bytearray()

    def fileno(self) -> int:
        return self._connection.fileno()

    @property
    def pending(self) -> bool:
        """Something already received may be this shell's output or exit: `read` would
        not wait for the socket (poll `fileno` only when this is False)."""
        return bool(self._output) or self._connection.has_buffered_frame \
            or any(self._is_mine(header, payload) for header, payload in self._connection.events)

    def write(self, data: bytes) -> None:
        self._one_way(self._shells.input(self.session_id, data))

    def resize(self, rows: int, cols: int) -> None:
        self._one_way(self._shells.resize(self.session_id, rows, cols))

    def close(self) -> None:
        """Hangs the shell up (SIGHUP to its session, SIGKILL 2 s later)."""
        if self.exit_status is None:
            self._one_way(self._shells.close(self.session_id))

    def __enter__(self) -> "Shell":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def read(self, size: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Up to `size` bytes of output; waits up to `timeout` seconds (None: the
        connection's timeout) for the first. b"" after the shell exited; a wait that ends
        without output raises TransportError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._output and self.exit_status is None:
            self._take_events()
            if self._output or self.exit_status is not None:
                break
            self._connection.receive_events(deadline)
        data = bytes(self._output[:size])
        del self._output[:size]
        return data

    def wait(self, timeout: Optional[float] = None) -> int:
        """Reads (and drops) output until the shell exits; its exit status."""
        while self.read(timeout=timeout):
            pass
        return self.exit_status

    def _one_way(self, op_and_request) -> None:
        op, request = op_and_request
        self._connection.send(self._shells.service, op, request, id=0)

    def _is_mine(self, header, payload) -> bool:
        return header.service == self._shells.service and header.op in (self._shells.output, self._shells.exit) \
            and m.ShellSession.decode(payload[:4]).session_id == self.session_id

    def _take_events(self) -> None:
        for header, payload in self._connection.take_events(self._is_mine):
            if header.op == self._shells.output:
                self._output += m.ShellData.decode(payload).data
            else:
                self.exit_status = m.ShellExitEvent.decode(payload).exit_code
