"""The serial link layer's client side (docs/PROTOCOL.md, section 8), sans I/O: line
frames (COBS, CRC-32, a 0x00 delimiter), packets, and `LinkClient`, the state machine
that makes a reliable byte stream of them. The owner feeds it what the line delivered,
writes what it produces, and calls it again by `next_deadline`.
"""

import os
import struct
import zlib
from collections import OrderedDict
from typing import Dict, List, Optional

DATA, ACK, RESET, RESET_ACK, CLOSE, NO_LINK = 1, 2, 3, 4, 5, 6
ANSWER_REQUESTED = 0x01
HEADER = struct.Struct("<BBHHI")  # type, flags, seq, ack, extra
MAX_PAYLOAD = 1024
WINDOW = 16
MAX_LINE_FRAME = 2092  # longer without a delimiter: noise


def crc32(data: bytes) -> int:
    """The common CRC-32 (reflected 0xEDB88320, initial value and final XOR 0xFFFFFFFF)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """Consistent Overhead Byte Stuffing: the same bytes without any 0x00."""
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """The bytes `cobs_encode` was given; ValueError for what it cannot have made."""
    out = bytearray()
    at = 0
    while at < len(data):
        length = data[at]
        if length == 0 or at + length > len(data):
            raise ValueError("not COBS")
        block = data[at + 1:at + length]
        if 0 in block:
            raise ValueError("not COBS")
        out += block
        at += length
        if length < 255 and at < len(data):
            out.append(0)
    return bytes(out)


def line_frame(packet: bytes) -> bytes:
    """`COBS(packet + CRC32) 0x00`."""
    return cobs_encode(packet + struct.pack("<I", crc32(packet))) + b"\x00"


def packet(kind: int, flags: int = 0, seq: int = 0, ack: int = 0, extra: int = 0, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, flags, seq, ack, extra) + payload


class LineDecoder:
    """Line bytes in, checked packets out; what fails (COBS, CRC, too short, too long) is
    dropped and counted, and the decoder finds its place again at the next 0x00."""

    def __init__(self) -> None:
        self._frame = bytearray()
        self._noise = False
        self.dropped = 0

    def feed(self, data: bytes) -> List[bytes]:
        packets = []
        for part in _split_keep(data):
            if part == b"\x00":
                frame, noise = bytes(self._frame), self._noise
                self._frame.clear()
                self._noise = False
                if noise:
                    self.dropped += 1
                elif frame:
                    decoded = self._check(frame)
                    if decoded is None:
                        self.dropped += 1
                    else:
                        packets.append(decoded)
            elif not self._noise:
                self._frame += part
                if len(self._frame) > MAX_LINE_FRAME:
                    self._frame.clear()
                    self._noise = True
        return packets

    @staticmethod
    def _check(frame: bytes) -> Optional[bytes]:
        try:
            decoded = cobs_decode(frame)
        except ValueError:
            return None
        if len(decoded) < HEADER.size + 4:
            return None
        body, check = decoded[:-4], struct.unpack("<I", decoded[-4:])[0]
        return body if crc32(body) == check else None


def _split_keep(data: bytes):
    """`data` cut at each 0x00, the delimiters kept as parts of their own."""
    start = 0
    while True:
        end = data.find(b"\x00", start)
        if end < 0:
            if start < len(data):
                yield data[start:]
            return
        if end > start:
            yield data[start:end]
        yield b"\x00"
        start = end + 1


def _after(a: int, b: int) -> int:
    """How far sequence number `a` is after `b` (16-bit, wrapping)."""
    return (a - b) & 0xFFFF


class _Sent:
    __slots__ = ("payload", "leaves_at", "timeout", "order", "first_sent", "sacked", "lost", "probed")

    def __init__(self, payload: bytes, now: float, timeout: float):
        self.payload = payload
        self.leaves_at = now
        self.timeout = timeout
        self.order = 0
        self.first_sent = now
        self.sacked = False
        self.lost = False
        self.probed = False


class LinkError(Exception):
    """The link broke: the agent restarted (NO_LINK), or went silent."""


class LinkClient:
    """A client's end of one link: `start` opens it (RESET until RESET_ACK), `write`
    queues stream bytes, `output` gives the line bytes to send now, `received` takes
    what the line delivered, `read` the stream bytes that arrived in order."""

    RECEIVE_LIMIT = 4 << 20  # undelivered stream bytes beyond this: DATA dropped, not acknowledged
    KEEPALIVE = 10.0
    GIVE_UP = 30.0

    def __init__(self, baud: int) -> None:
        self.byte_time = 10.0 / baud  # 8N1: ten bits a byte
        full_packets = (2 * (HEADER.size + MAX_PAYLOAD + 4 + 8) + 4096) * self.byte_time
        self.first_timeout = 0.2 + 2 * full_packets
        self.probe_after = 0.05 + full_packets
        self.decoder = LineDecoder()
        self.nonce = 0
        self.is_open = False
        self.closed = False
        self._opening_next = 0.0
        self._send_seq = 0
        self._unacked: "OrderedDict[int, _Sent]" = OrderedDict()
        self._outgoing = bytearray()
        self._receive_next = 0
        self._early: Dict[int, bytes] = {}
        self._incoming = bytearray()
        self._need_ack = False
        self._order = 0
        self._line_free_at = 0.0
        self._last_heard = 0.0
        self._last_keepalive = 0.0
        self.retransmissions = 0
        self.duplicates = 0

    # The stream

    def start(self, now: float) -> None:
        self.nonce = int.from_bytes(os.urandom(4), "little") or 1
        self._opening_next = now
        self._last_heard = now

    def write(self, data: bytes) -> None:
        self._outgoing += data

    @property
    def pending(self) -> int:
        """Stream bytes queued and not yet sent in a DATA packet."""
        return len(self._outgoing)

    def read(self, limit: int = 1 << 30) -> bytes:
        data = bytes(self._incoming[:limit])
        del self._incoming[:limit]
        return data

    @property
    def readable(self) -> int:
        return len(self._incoming)

    def close(self) -> bytes:
        """CLOSE, twice (nothing answers it); the line bytes to send."""
        self.closed = True
        frame = line_frame(packet(CLOSE, extra=self.nonce))
        return frame + frame

    # The line

    def received(self, data: bytes, now: float) -> None:
        for body in self.decoder.feed(data):
            self._handle(body, now)

    def _handle(self, body: bytes, now: float) -> None:
        kind, flags, seq, ack, extra = HEADER.unpack_from(body)
        payload = body[HEADER.size:]
        self._last_heard = now
        if flags & ANSWER_REQUESTED:
            self._need_ack = True
        if kind == RESET_ACK:
            if extra == self.nonce and not self.is_open:
                self.is_open = True
            return
        if kind == CLOSE:
            if extra == self.nonce:
                self.closed = True
            return
        if kind == NO_LINK:
            raise LinkError("the agent does not know this link (it restarted?)")
        if not self.is_open or kind not in (DATA, ACK):
            return
        self._acknowledged(ack, extra)
        if kind == DATA and payload:
            self._data(seq, payload)

    def _acknowledged(self, ack: int, bitmap: int) -> None:
        while self._unacked:
            oldest = next(iter(self._unacked))
            if 0 < _after(ack, oldest) <= WINDOW:
                del self._unacked[oldest]
            else:
                break
        newest_sacked = -1
        for i in range(32):
            if bitmap >> i & 1:
                sent = self._unacked.get((ack + 1 + i) & 0xFFFF)
                if sent is not None:
                    sent.sacked = True
                    newest_sacked = max(newest_sacked, sent.order)
        # A line keeps order: what left before something that arrived is lost.
        for sent in self._unacked.values():
            if not sent.sacked and sent.order < newest_sacked:
                sent.lost = True

    def _data(self, seq: int, payload: bytes) -> None:
        self._need_ack = True
        distance = _after(seq, self._receive_next)
        if len(self._incoming) > self.RECEIVE_LIMIT:
            self._need_ack = False  # dropped without an acknowledgement: sent again later
            return
        if distance == 0:
            self._incoming += payload
            self._receive_next = (self._receive_next + 1) & 0xFFFF
            while self._receive_next in self._early:
                self._incoming += self._early.pop(self._receive_next)
                self._receive_next = (self._receive_next + 1) & 0xFFFF
        elif distance <= WINDOW:
            if seq in self._early:
                self.duplicates += 1
            self._early[seq] = payload
        else:
            self.duplicates += 1

    def _bitmap(self) -> int:
        bitmap = 0
        for i in range(32):
            if (self._receive_next + 1 + i) & 0xFFFF in self._early:
                bitmap |= 1 << i
        return bitmap

    def _frame(self, body: bytes, now: float) -> bytes:
        frame = line_frame(body)
        self._line_free_at = max(now, self._line_free_at) + len(frame) * self.byte_time
        return frame

    def _send_data(self, seq: int, sent: _Sent, now: float) -> bytes:
        self._order += 1
        sent.order = self._order
        sent.lost = False
        frame = self._frame(packet(DATA, 0, seq, self._receive_next, self._bitmap(), sent.payload), now)
        sent.leaves_at = self._line_free_at
        self._need_ack = False
        return frame

    def output(self, now: float) -> bytes:
        """The line bytes to send now."""
        if self.closed:
            return b""
        if not self.is_open:
            if now < self._opening_next:
                return b""
            self._opening_next = now + max(0.25, self.first_timeout / 4)
            return self._frame(packet(RESET, extra=self.nonce), now)
        self._check_alive(now)
        out = bytearray()
        for seq, sent in self._unacked.items():
            if sent.sacked:
                continue
            if sent.lost:
                self.retransmissions += 1
                out += self._send_data(seq, sent, now)
            elif now >= sent.leaves_at + sent.timeout:
                self.retransmissions += 1
                sent.timeout = min(sent.timeout * 2, 5.0)
                out += self._send_data(seq, sent, now)
        while self._outgoing and len(self._unacked) < WINDOW:
            payload = bytes(self._outgoing[:MAX_PAYLOAD])
            del self._outgoing[:MAX_PAYLOAD]
            sent = _Sent(payload, now, self.first_timeout)
            seq = self._send_seq
            self._send_seq = (self._send_seq + 1) & 0xFFFF
            self._unacked[seq] = sent
            out += self._send_data(seq, sent, now)
        if not out and self._unacked:
            # Nothing new follows the newest packet: if it stays unanswered, it is sent
            # again once, and its acknowledgement shows what was lost before it.
            seq, newest = next(reversed(self._unacked.items()))
            if not newest.probed and not newest.sacked and now >= newest.leaves_at + self.probe_after:
                newest.probed = True
                self.retransmissions += 1
                out += self._send_data(seq, newest, now)
        if self._need_ack or now - self._last_heard >= self.KEEPALIVE and now - self._last_keepalive >= self.KEEPALIVE:
            flags = 0
            if not self._need_ack:
                flags = ANSWER_REQUESTED
                self._last_keepalive = now
            out += self._frame(packet(ACK, flags, 0, self._receive_next, self._bitmap()), now)
            self._need_ack = False
        return bytes(out)

    def _check_alive(self, now: float) -> None:
        if now - self._last_heard > self.GIVE_UP:
            raise LinkError("nothing from the agent for %d s" % self.GIVE_UP)
        for sent in self._unacked.values():
            if now - sent.first_sent > self.GIVE_UP:
                raise LinkError("data unacknowledged for %d s" % self.GIVE_UP)
            break

    def next_deadline(self, now: float) -> float:
        """When `output` should be called again at the latest."""
        if not self.is_open:
            return self._opening_next
        deadlines = [self._last_heard + self.KEEPALIVE, self._last_heard + self.GIVE_UP]
        for sent in self._unacked.values():
            if not sent.sacked:
                deadlines.append(sent.leaves_at + sent.timeout)
        if self._unacked:
            newest = next(reversed(self._unacked.values()))
            if not newest.probed:
                deadlines.append(newest.leaves_at + self.probe_after)
        return max(now, min(deadlines))
