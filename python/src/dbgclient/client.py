"""A blocking connection to dbgd: requests and their answers over one socket."""

import socket
import ssl
import time
from collections import deque
from typing import Deque, Optional, Tuple, Type

from . import messages as m
from . import serialline, tls
from .errors import ConnectError, ProtocolError, TransportError, remote_error
from .target import Target, parse
from .wire import CONTROL, DBG, DISTRO, ERROR, EVENT, FrameReader, Header, REQUEST, encode_frame, encode_header

PROTOCOL_VERSION = 1
CLIENT_NAME = "dbgclient (Python)"


class Connection:
    """One connection to an agent. Requests are answered in `call`; events that arrive
    meanwhile (shell output) wait in `events`. Not for use by several threads at once."""

    def __init__(self, sock: socket.socket, target: Target, timeout: Optional[float], max_frame: int = 16 << 20):
        self.target = target
        self.timeout = timeout
        self.max_frame = max_frame
        # What the agent takes: its default until Hello says (--max-frame, 1 MiB).
        self.agent_max_frame = 1 << 20
        self.events: Deque[Tuple[Header, bytes]] = deque()
        self._sock = sock
        self._reader = FrameReader(max_frame)
        self._next_id = 0
        sock.settimeout(timeout)

    # Lifetime

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def has_buffered_frame(self) -> bool:
        """A whole frame was received and not taken yet: the socket may not be readable,
        but `receive` returns at once."""
        return self._reader.has_frame

    def set_timeout(self, timeout: Optional[float]) -> None:
        """How long one receive or send may wait from now on (None: no limit)."""
        self._sock.settimeout(timeout)

    # Frames

    def make_id(self) -> int:
        self._next_id = self._next_id % 0xFFFFFFFF + 1
        return self._next_id

    def send(self, service: int, op: int, message: m.Message, id: Optional[int] = None) -> int:
        """Sends one request; returns its id (0: one-way, no answer unless it fails)."""
        if id is None:
            id = self.make_id()
        payload = message.encode()
        if len(payload) > self.agent_max_frame:
            raise ProtocolError("a request of %d bytes, above the agent's limit of %d" % (len(payload),
                                                                                          self.agent_max_frame))
        self.send_bytes(encode_frame(REQUEST, service, op, id, payload))
        return id

    def send_around(self, service: int, op: int, message: m.Message, field: str) -> int:
        """As `send`, with the value of the []byte `field` (a memoryview of a file
        chunk, say) sent from where it lies rather than copied into the frame."""
        before, after = message.encode_around(field)
        value = getattr(message, field)
        length = len(before) + len(value) + len(after)
        if length > self.agent_max_frame:
            raise ProtocolError("a request of %d bytes, above the agent's limit of %d" % (length, self.agent_max_frame))
        id = self.make_id()
        self.send_parts([encode_header(REQUEST, service, op, id, length) + before, value, after])
        return id

    def send_bytes(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except socket.timeout:
            raise TransportError("timed out sending to %s" % (self.target,)) from None
        except OSError as error:
            raise TransportError("sending to %s failed: %s" % (self.target, error.strerror or error)) from None

    # A frame that still lacks this much is read straight into its own buffer.
    LARGE_PAYLOAD = 64 << 10

    def receive(self) -> Tuple[Header, bytes]:
        """The next frame of any kind (its payload bytes, or a bytearray for a large one)."""
        while True:
            frame = self._reader.next_frame()
            if frame is not None:
                return frame
            large = self._reader.start_large_payload(self.LARGE_PAYLOAD)
            if large is not None:
                header, payload, filled = large
                view = memoryview(payload)
                while filled < len(payload):
                    filled += self._recv(lambda: self._sock.recv_into(view[filled:]))
                return header, payload
            data = self._recv(lambda: self._sock.recv(1 << 20))
            self._reader.feed(data)

    def _recv(self, read):
        try:
            got = read()
        except socket.timeout:
            raise TransportError("timed out waiting for %s" % (self.target,)) from None
        except OSError as error:
            raise TransportError("receiving from %s failed: %s" % (self.target, error.strerror or error)) from None
        if not got:
            raise TransportError("%s closed the connection" % (self.target,))
        return got

    def send_parts(self, parts) -> None:
        """Sends byte strings one after the other without joining them (a chunk of file
        data goes from its buffer to the socket)."""
        if not hasattr(self._sock, "sendmsg") or isinstance(self._sock, ssl.SSLSocket):
            return self.send_bytes(b"".join(parts))
        views = [memoryview(part).cast("B") for part in parts if len(part)]
        try:
            while views:
                sent = self._sock.sendmsg(views)
                while views and sent >= len(views[0]):
                    sent -= len(views[0])
                    views.pop(0)
                if views and sent:
                    views[0] = views[0][sent:]
        except socket.timeout:
            raise TransportError("timed out sending to %s" % (self.target,)) from None
        except OSError as error:
            raise TransportError("sending to %s failed: %s" % (self.target, error.strerror or error)) from None

    def answer(self, id: int, response: Optional[Type[m.Message]], raw: bool = False):
        """Waits for the answer to request `id`: its decoded response (with `raw`, its
        payload as received), or the agent's error raised. Events meanwhile go to
        `events`; an error frame with id 0 (the agent ending the connection: Timeout,
        Busy) is raised."""
        while True:
            header, payload = self.receive()
            if header.kind == EVENT:
                self.events.append((header, payload))
                continue
            if header.kind == ERROR and (header.id == id or header.id == 0):
                error = m.Error.decode(payload)
                raise remote_error(error.code, error.errno, error.message)
            if header.id != id:
                continue  # the answer to a request given up on
            if raw:
                return payload
            return response.decode(payload) if response is not None else None

    def receive_events(self, deadline: Optional[float] = None) -> None:
        """Receives one frame into `events` (an error with id 0 is raised; a stray
        answer dropped), waiting until `deadline` (time.monotonic(); None: the
        connection's timeout). For consumers of events (shells, processes), which take
        theirs out of `events`."""
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransportError("nothing from %s within the time given" % (self.target,))
            self._sock.settimeout(left)
        try:
            header, payload = self.receive()
        finally:
            if deadline is not None:
                self._sock.settimeout(self.timeout)
        if header.kind == EVENT:
            self.events.append((header, payload))
        elif header.kind == ERROR and header.id == 0:
            error = m.Error.decode(payload)
            raise remote_error(error.code, error.errno, error.message)

    def take_events(self, wanted) -> list:
        """Removes and returns the events for which `wanted(header, payload)` is true."""
        taken = [event for event in self.events if wanted(*event)]
        if taken:
            kept = [event for event in self.events if not wanted(*event)]
            self.events.clear()
            self.events.extend(kept)
        return taken

    def call(self, service: int, op: int, request: m.Message, response: Optional[Type[m.Message]] = None):
        """Sends a request and waits for its answer (see `answer`)."""
        if response is None:
            response = m.response_type(service, op)
        return self.answer(self.send(service, op, request), response)

    # Control service

    def hello(self, client: str = CLIENT_NAME) -> m.HelloResponse:
        answer = self.call(CONTROL, m.OP["Hello"], m.HelloRequest(version=PROTOCOL_VERSION, max_frame=self.max_frame,
                                                                   client=client))
        self.agent_max_frame = answer.max_frame
        return answer

    def ping(self, data: bytes = b"") -> bytes:
        return self.call(CONTROL, m.OP["Ping"], m.Ping(data=data)).data

    def dbg(self, op: str, request: m.Message):
        """A dbg service request by op name (e.g. "Stat"), answered."""
        return self.call(DBG, m.OP[op], request)

    def distro(self, op: str, request: m.Message):
        """A distro service request by op name (e.g. "Status"), answered."""
        return self.call(DISTRO, m.DISTRO_OP[op], request)


def open_connection(target: str, timeout: Optional[float] = 30.0, max_frame: int = 16 << 20,
                    fingerprint: Optional[str] = None, accept_new: bool = False,
                    known_agents: Optional[str] = None, key: Optional[str] = None) -> Connection:
    """A connection to `target` (see `target.parse`), without Hello or login. Over TLS
    the board's key must be `fingerprint`, or the one `known_agents` records for it (a
    new board is recorded with `accept_new`): see `tls.check_trust`; `key` is the path
    of dbg's client key, shown for key login."""
    parsed = parse(target)
    try:
        if parsed.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(parsed.path)
        elif parsed.kind in ("tcp", "tls"):
            sock = socket.create_connection((parsed.host, parsed.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if parsed.kind == "tls":
                address = str(parsed._replace(kind="tcp"))
                sock, presented = tls.wrap(sock, str(parsed), key)
                try:
                    tls.check_trust(address, presented, fingerprint, accept_new, known_agents)
                except BaseException:
                    sock.close()
                    raise
        else:
            sock = serialline.open_line(parsed, timeout)
        if key is not None and parsed.kind != "tls":
            sock.close()
            raise ConnectError("%s: key login needs TLS (tls://HOST)" % (parsed,))
    except socket.timeout:
        raise ConnectError("%s: no answer within %s s" % (parsed, timeout)) from None
    except OSError as error:
        raise ConnectError("cannot connect to %s: %s" % (parsed, error.strerror or error)) from None
    return Connection(sock, parsed, timeout, max_frame)
