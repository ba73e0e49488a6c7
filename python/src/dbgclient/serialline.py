"""A serial line as a socket for `Connection`: the link layer (`link.LinkClient`) over a
local port (`serial:`) or a port server's TCP export (`socket://` raw, `rfc2217://`
telnet with RFC 2217), both through pyserial (`pip install dbgclient[serial]`)."""

import socket
import time
from typing import Optional

from .errors import ConnectError
from .link import LinkClient, LinkError
from .target import Target


def open_line(target: Target, timeout: Optional[float]) -> "LinkSocket":
    try:
        import serial
    except ImportError:
        raise ConnectError("%s: serial lines need pyserial (pip install dbgclient[serial])" % (target,)) from None
    try:
        if target.kind == "serial":
            port = serial.Serial(target.path, target.baud, timeout=0)
        else:
            url = "%s%s:%d" % (target.scheme, "[%s]" % target.host if ":" in target.host else target.host, target.port)
            if target.scheme == "rfc2217://":
                url += "?ign_set_control"  # port servers (ser2net) need not answer SET_CONTROL
            port = serial.serial_for_url(url, target.baud, timeout=0)
    except (serial.SerialException, OSError, ValueError) as error:
        raise ConnectError("cannot open %s: %s" % (target, error)) from None
    line = LinkSocket(port, target, timeout)
    try:
        line.open(timeout)
    except BaseException:
        line.close()
        raise
    return line


class LinkSocket:
    """What `Connection` needs of a socket (recv, recv_into, sendall, settimeout,
    fileno, close), made of a link over a pyserial port. The link moves (retransmits,
    acknowledges, keeps alive) while a call waits."""

    def __init__(self, port, target: Target, timeout: Optional[float]):
        self._port = port
        self._target = target
        self._timeout = timeout
        self.link = LinkClient(target.baud)

    def open(self, timeout: Optional[float]) -> None:
        self.link.start(time.monotonic())
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.link.is_open:
            if deadline is not None and time.monotonic() >= deadline:
                raise ConnectError("%s: no agent answered on the line within %s s" % (self._target, timeout))
            self._move(deadline)

    def settimeout(self, timeout: Optional[float]) -> None:
        self._timeout = timeout

    def fileno(self) -> int:
        return self._port.fileno()

    def recv(self, size: int) -> bytes:
        deadline = self._deadline()
        while not self.link.readable:
            if self.link.closed:
                return b""
            self._move(deadline)
        return self.link.read(size)

    def recv_into(self, buffer) -> int:
        data = self.recv(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def sendall(self, data: bytes) -> None:
        if self.link.closed:
            raise BrokenPipeError("the agent closed the link")
        self.link.write(data)
        deadline = self._deadline()
        while self.link.pending:  # until all of it is in DATA packets (the window allows 16)
            self._move(deadline)

    def close(self) -> None:
        try:
            if self.link.is_open and not self.link.closed:
                self._port.write(self.link.close())
                self._port.flush()
        except Exception:  # the line is going away anyway
            pass
        self._port.close()

    def _deadline(self) -> Optional[float]:
        return None if self._timeout is None else time.monotonic() + self._timeout

    def _move(self, deadline: Optional[float]) -> None:
        """One step: what the link has to send, then what the line delivers, waiting
        at most until the link's next deadline or `deadline` (socket.timeout then)."""
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            raise socket.timeout("timed out")
        try:
            out = self.link.output(now)
            if out:
                self._port.write(out)
            wait = self.link.next_deadline(now) - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            self._port.timeout = max(0.0, min(wait, 0.5))
            data = self._port.read(max(1, self._port.in_waiting))
        except LinkError as error:
            raise ConnectionResetError(str(error)) from None
        if data:
            try:
                self.link.received(data, time.monotonic())
            except LinkError as error:
                raise ConnectionResetError(str(error)) from None
