"""An interactive shell on the board's PTY (ShellOpen and its events)."""

import time
from typing import Optional

from . import messages as m
from .wire import DBG


class Shell:
    """The user's login shell on a new PTY. `read` gives its output as it comes (b"" once
    it has exited: `exit_status` is then set), `write` sends keystrokes, `resize` the
    terminal's size; `fileno` is the connection's socket, readable when the agent sent
    something (what the client already received is seen by `pending`)."""

    def __init__(self, client, rows: int = 24, cols: int = 80, cwd: str = ""):
        self._connection = client.connection
        self._token = client.token
        opened = self._connection.dbg("ShellOpen", m.ShellOpenRequest(token=self._token, cwd=cwd, rows=rows, cols=cols))
        self.session_id = opened.session_id
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
        self._one_way("ShellInput", m.ShellInputRequest(token=self._token, session_id=self.session_id, data=data))

    def resize(self, rows: int, cols: int) -> None:
        self._one_way("ShellResize", m.ShellResizeRequest(token=self._token, session_id=self.session_id, rows=rows,
                                                          cols=cols))

    def close(self) -> None:
        """Hangs the shell up (SIGHUP to its session, SIGKILL 2 s later)."""
        if self.exit_status is None:
            self._one_way("ShellClose", m.ShellCloseRequest(token=self._token, session_id=self.session_id))

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

    def _one_way(self, op: str, request: m.Message) -> None:
        self._connection.send(DBG, m.OP[op], request, id=0)

    def _is_mine(self, header, payload) -> bool:
        return header.service == DBG and header.op in (m.OP["ShellOutput"], m.OP["ShellExit"]) \
            and m.ShellSession.decode(payload[:4]).session_id == self.session_id

    def _take_events(self) -> None:
        for header, payload in self._connection.take_events(self._is_mine):
            if header.op == m.OP["ShellOutput"]:
                self._output += m.ShellData.decode(payload).data
            else:
                self.exit_status = m.ShellExitEvent.decode(payload).exit_code
