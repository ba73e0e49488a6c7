"""Every parser of the agent's bytes, fed hostile input: random bytes and mutations of
valid encodings, a bounded number of rounds with a fixed seed (DBGCLIENT_FUZZ_ROUNDS
for more). Each may only refuse (ProtocolError, ValueError), never fail otherwise or
hang."""

import os
import random

from dbgclient import errors
from dbgclient import messages as m
from dbgclient.link import LineDecoder, cobs_decode, line_frame, packet
from dbgclient.wire import FrameReader, encode_frame

ROUNDS = int(os.environ.get("DBGCLIENT_FUZZ_ROUNDS", "10000"))
REFUSALS = (errors.ProtocolError, ValueError)


def _mutations(rng, seeds):
    for _ in range(ROUNDS):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            choice = rng.random()
            if choice < 0.4 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif choice < 0.6 and data:
                del data[rng.randrange(len(data)):]
            elif choice < 0.8:
                at = rng.randrange(len(data) + 1)
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            else:
                at = rng.randrange(len(data) + 1)
                data[at:at] = (0xFFFFFFFF).to_bytes(4, "little")  # a huge length
        yield bytes(data)


def test_every_message_decoder():
    rng = random.Random(1)
    seeds = [cls().encode() for cls in m.TYPES.values()] + [
        m.DirPage(entries=[m.DirEntry(name="x")] * 3, done=True).encode(),
        m.HelloResponse(services=[0, 96], agent="a").encode()]
    for data in _mutations(rng, seeds):
        for cls in m.TYPES.values():
            try:
                cls.decode(data)
            except REFUSALS:
                pass


def test_the_frame_reader():
    rng = random.Random(2)
    seeds = [encode_frame(2, 0x60, 0x0620, 7, m.FileChunk(data=b"abc", eof=True).encode()),
             encode_frame(4, 0x60, 0x0630, 0, m.ShellData(session_id=1, data=b"x").encode())]
    for data in _mutations(rng, seeds):
        reader = FrameReader(max_payload=1 << 16)
        try:
            for at in range(0, len(data), 5):
                reader.feed(data[at:at + 5])
                reader.frames()
        except REFUSALS:
            pass


def test_the_line_decoder_and_cobs():
    rng = random.Random(3)
    seeds = [line_frame(packet(1, 0, 5, 6, 7, b"payload")), line_frame(packet(2)) * 3, b"\x00" * 4]
    for data in _mutations(rng, seeds):
        LineDecoder().feed(data)  # drops what it cannot read; never raises
        try:
            cobs_decode(data)
        except REFUSALS:
            pass


def test_the_link_state_machine():
    from dbgclient.link import RESET_ACK, LinkClient, LinkError
    rng = random.Random(4)
    link = LinkClient(921600)
    link.start(0.0)
    link.output(0.0)
    link.received(line_frame(packet(RESET_ACK, extra=link.nonce)), 0.0)
    link.write(b"x" * 40000)
    now = 0.0
    for _ in range(ROUNDS):
        now += 0.001
        body = packet(rng.randint(0, 8), rng.randint(0, 3), rng.randrange(65536), rng.randrange(65536),
                      rng.randrange(1 << 32), bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 1024, 1100)))))
        try:
            link.received(line_frame(body), now)
            link.output(now)
            link.read()
        except LinkError:
            link = LinkClient(921600)  # NO_LINK: a new link, as a client would make
            link.start(now)
