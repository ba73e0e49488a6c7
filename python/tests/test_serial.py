"""The serial link layer: line coding vectors, and the client against dbgd --serial over
a real PTY line, clean and damaged, and through ser2net (raw TCP and RFC 2217)."""

import os
import shutil
import socket
import subprocess
import time

import pytest

import dbgclient
from conftest import PASSWORD
from dbgclient.link import LineDecoder, cobs_decode, cobs_encode, crc32, line_frame, packet



@pytest.mark.parametrize("raw,encoded", [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255)) + b"\x01"),
])
def test_cobs(raw, encoded):
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw
    assert b"\x00" not in encoded


def test_cobs_without_the_redundant_last_block():
    # Another encoder may end a 254-byte run without an empty block: the same bytes.
    assert cobs_decode(b"\xff" + bytes(range(1, 255))) == bytes(range(1, 255))


def test_crc32_of_the_document():
    assert crc32(b"123456789") == 0xCBF43926


def test_line_decoder_drops_damage_and_finds_its_place_again():
    good = [packet(2, 0, 0, n, 0) for n in range(3)]
    frames = [line_frame(p) for p in good]
    damaged = bytearray(frames[1])
    damaged[3] ^= 0x40
    noise = bytes([7]) * 3000  # longer than any frame, without a delimiter
    decoder = LineDecoder()
    stream = frames[0] + bytes(damaged) + b"\x00\x00" + noise + b"\x00" + frames[2]
    got = []
    for i in range(0, len(stream), 7):
        got += decoder.feed(stream[i:i + 7])
    assert got == [good[0], good[2]]
    assert decoder.dropped == 2


def test_over_a_clean_line(serial_agent, agent):
    _, target, _ = serial_agent()
    with dbgclient.connect(target, user=agent.user, password=PASSWORD, timeout=20) as board:
        assert board.run(["id", "-u"]).stdout == str(os.getuid()).encode() + b"\n"
        data = os.urandom(500_000)
        board.write_bytes("serial.bin", data)
        assert board.read_bytes("serial.bin") == data
        assert board.sh("exit 3").exit_code == 3


def test_over_a_damaged_line(serial_agent, agent):
    _, target, line = serial_agent(damage=1 / 3000)
    with dbgclient.connect(target, user=agent.user, password=PASSWORD, timeout=30) as board:
        data = os.urandom(300_000)
        board.write_bytes("damaged.bin", data)
        assert board.read_bytes("damaged.bin") == data
        link = board.connection._sock.link
        assert line.damaged > 0 and link.retransmissions + link.decoder.dropped > 0


@pytest.mark.parametrize("telnet", [False, True], ids=["socket", "rfc2217"])
def test_through_ser2net(serial_agent, agent, tmp_path, telnet):
    ser2net = shutil.which("ser2net") or "/usr/sbin/ser2net"
    if not os.access(ser2net, os.X_OK):
        pytest.skip("no ser2net (Scripts/setup installs it)")
    baud = 921600
    _, target, line = serial_agent(baud=baud)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    accepter = ("telnet(rfc2217),tcp" if telnet else "tcp") + ",127.0.0.1,%d" % port
    config = ("connection: &dbg#  accepter: %s#  connector: serialdev,%s,%dn81,local#  options:#    kickolduser: true"
              % (accepter, line.paths[1], baud))
    server = subprocess.Popen([ser2net, "-n", "-u", "-Y", config])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        url = "%s://127.0.0.1:%d,%d" % ("rfc2217" if telnet else "socket", port, baud)
        with dbgclient.connect(url, user=agent.user, password=PASSWORD, timeout=30) as board:
            data = bytes((255 if n % 7 == 0 else n & 0xFF) for n in range(100_000))  # 255: telnet's escape
            board.write_bytes("ser2net.bin", data)
            assert board.read_bytes("ser2net.bin") == data
    finally:
        server.terminate()
        try:
            server.wait(2)
        except subprocess.TimeoutExpired:  # ser2net does not always end on SIGTERM
            server.kill()
            server.wait(2)


def _packets(line_bytes):
    import struct
    return [struct.unpack_from("<BBHHI", body) + (body[10:],) for body in LineDecoder().feed(line_bytes)]


def test_link_state_machine_opens_reorders_and_resends_what_was_lost():
    from dbgclient.link import ACK, DATA, RESET, RESET_ACK, LinkClient
    link = LinkClient(115200)
    link.start(0.0)
    (kind, _, _, _, nonce, _), = _packets(link.output(0.0))
    assert kind == RESET and nonce == link.nonce
    assert link.output(0.1) == b""                       # the next RESET waits its turn
    assert _packets(link.output(0.4))[0][0] == RESET     # then comes again
    link.received(line_frame(packet(RESET_ACK, extra=nonce ^ 1)), 0.4)
    assert not link.is_open                              # another link's answer
    link.received(line_frame(packet(RESET_ACK, extra=nonce)), 0.4)
    assert link.is_open

    # Data out: three packets; the agent has 1 and 2 but not 0 (ack 0, bitmap 0b11).
    link.write(b"a" * 1024 + b"b" * 1024 + b"c")
    sent = _packets(link.output(0.4))
    assert [(p[0], p[2]) for p in sent] == [(DATA, 0), (DATA, 1), (DATA, 2)] and sent[2][5] == b"c"
    link.received(line_frame(packet(ACK, 0, 0, 0, 0b11)), 0.41)
    resent = _packets(link.output(0.41))
    assert [(p[0], p[2]) for p in resent] == [(DATA, 0)]  # at once, not after a timeout
    link.received(line_frame(packet(ACK, 0, 0, 3, 0)), 0.42)
    assert link.output(0.42) == b"" and link.output(0.43) == b""

    # Data in, out of order: 1 before 0; the stream comes in order, the ACK says what came.
    link.received(line_frame(packet(DATA, 0, 1, 3, 0, b"world")), 0.5)
    assert link.read() == b""
    (kind, _, _, ack, bitmap, _), = _packets(link.output(0.5))
    assert (kind, ack, bitmap) == (ACK, 0, 0b1)
    link.received(line_frame(packet(DATA, 0, 0, 3, 0, b"hello ")), 0.6)
    assert link.read() == b"hello world"
    link.received(line_frame(packet(DATA, 0, 0, 3, 0, b"hello ")), 0.7)  # a duplicate
    assert link.read() == b"" and link.duplicates == 1
    (kind, _, _, ack, _, _), = _packets(link.output(0.7))
    assert (kind, ack) == (ACK, 2)
