"""The Sutra v2 wire format (docs/PROTOCOL.md, sections 1 and 2), sans I/O.

Frames are a 20-byte little-endian header and a payload; payloads are the fields of
their type in order. Nothing here touches a socket: `FrameReader` takes bytes as they
arrive and hands out whole frames, `encode_frame` makes the bytes to send.
"""

import struct
from typing import List, NamedTuple, Optional, Tuple

from .errors import ProtocolError

MAGIC = b"S2"
HEADER = struct.Struct("<2sBBIHHII")
HEADER_SIZE = HEADER.size  # 20

REQUEST, RESPONSE, ERROR, EVENT = 1, 2, 3, 4

CONTROL, DBG, DISTRO = 0x00, 0x60, 0x70


class Header(NamedTuple):
    kind: int
    service: int
    op: int
    id: int
    length: int


def encode_header(kind: int, service: int, op: int, id: int, length: int) -> bytes:
    return HEADER.pack(MAGIC, kind, 0, service, op, 0, id, length)


def encode_frame(kind: int, service: int, op: int, id: int, payload: bytes) -> bytes:
    """One frame: the header, then `payload`."""
    return encode_header(kind, service, op, id, len(payload)) + payload


def parse_header(data: bytes) -> Header:
    """The header at the start of `data` (20 bytes at least); framing rules checked."""
    magic, kind, flags, service, op, reserved, id, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError("bad magic %r (expected b'S2'): not a dbg agent, or the stream is out of step" % magic)
    if flags != 0 or reserved != 0:
        raise ProtocolError("non-zero flags or reserved bits in a frame header")
    if kind not in (REQUEST, RESPONSE, ERROR, EVENT):
        raise ProtocolError("unknown frame kind %d" % kind)
    return Header(kind, service, op, id, length)


class FrameReader:
    """Bytes in, whole frames out. `max_payload` bounds what one frame may claim, so a
    broken or hostile peer cannot make the reader buffer without end."""

    def __init__(self, max_payload: int = 16 << 20):
        self.max_payload = max_payload
        self._buffer = bytearray()
        self._header: Optional[Header] = None

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def has_frame(self) -> bool:
        """A whole frame is buffered: `next_frame` returns it without more bytes."""
        if self._header is not None:
            return len(self._buffer) >= self._header.length
        return len(self._buffer) >= HEADER_SIZE and len(self._buffer) - HEADER_SIZE >= parse_header(self._buffer).length

    def next_frame(self) -> Optional[Tuple[Header, bytes]]:
        """The next whole frame, or None until more bytes arrive."""
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return None
            header = parse_header(self._buffer)
            if header.length > self.max_payload:
                raise ProtocolError("a frame of %d bytes, above the %d accepted" % (header.length, self.max_payload))
            self._header = header
            del self._buffer[:HEADER_SIZE]
        header = self._header
        if len(self._buffer) < header.length:
            return None
        payload = bytes(self._buffer[:header.length])
        del self._buffer[:header.length]
        self._header = None
        return header, payload

    def start_large_payload(self, at_least: int) -> Optional[Tuple[Header, bytearray, int]]:
        """When the frame being read still lacks `at_least` bytes or more: its header, a
        buffer of its whole payload holding what is buffered so far, and how much that
        is. The caller fills the rest straight from its socket (no copy through the
        reader), and the reader starts on the next frame."""
        header = self._header
        if header is None or header.length - len(self._buffer) < at_least:
            return None
        payload = bytearray(header.length)
        filled = len(self._buffer)
        payload[:filled] = self._buffer
        self._buffer.clear()
        self._header = None
        return header, payload, filled

    def frames(self) -> List[Tuple[Header, bytes]]:
        """Every whole frame buffered now."""
        out = []
        while True:
            frame = self.next_frame()
            if frame is None:
                return out
            out.append(frame)


# Payload primitives (section 2). `Writer` appends; `Reader` consumes exactly.

class Writer:
    def __init__(self) -> None:
        self.out = bytearray()

    def bytes(self, value) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogateescape")
        # extend, not +=: a bytes subclass (Ansible's unsafe text) must not replace `out`.
        self.out.extend(struct.pack("<I", len(value)))
        self.out.extend(value)

    def bool(self, value: bool) -> None:
        self.out.append(1 if value else 0)

    def int(self, value: int) -> None:
        self.out.extend(struct.pack("<q", value))

    def int32(self, value: int) -> None:
        self.out.extend(struct.pack("<i", value))

    def uint32(self, value: int) -> None:
        self.out.extend(struct.pack("<I", value))

    def uint64(self, value: int) -> None:
        self.out.extend(struct.pack("<Q", value))


class Reader:
    def __init__(self, payload: bytes) -> None:
        self.data = memoryview(payload)
        self.at = 0

    def _take(self, count: int) -> memoryview:
        if count > len(self.data) - self.at:
            raise ProtocolError("a payload ends %d bytes early" % (count - (len(self.data) - self.at)))
        part = self.data[self.at:self.at + count]
        self.at += count
        return part

    def _unpack(self, form: str, size: int):
        return struct.unpack(form, self._take(size))[0]

    def bytes(self) -> bytes:
        return bytes(self._take(self.uint32()))

    def view(self) -> memoryview:
        """A []byte field without copying it: valid while the payload is."""
        return self._take(self.uint32())

    def string(self) -> str:
        return self.bytes().decode("utf-8", "surrogateescape")

    def bool(self) -> bool:
        value = self._take(1)[0]
        if value > 1:
            raise ProtocolError("a bool of value %d" % value)
        return value == 1

    def int(self) -> int:
        return self._unpack("<q", 8)

    def int32(self) -> int:
        return self._unpack("<i", 4)

    def uint32(self) -> int:
        return self._unpack("<I", 4)

    def uint64(self) -> int:
        return self._unpack("<Q", 8)

    def end(self) -> None:
        if self.at != len(self.data):
            raise ProtocolError("%d bytes left over after a payload" % (len(self.data) - self.at))
