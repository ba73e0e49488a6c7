"""The codec against bytes written from docs/PROTOCOL.md: the header table, the
primitive encodings of section 2 (built here with struct, apart from the codec's own
Writer), every message type, and the framing rules."""

import struct

import pytest

from dbgclient import errors
from dbgclient import messages as m
from dbgclient.target import parse
from dbgclient.wire import FrameReader, encode_frame, parse_header


def u8(v): return struct.pack("<B", v)
def u32(v): return struct.pack("<I", v)
def i32(v): return struct.pack("<i", v)
def i64(v): return struct.pack("<q", v)
def u64(v): return struct.pack("<Q", v)
def s(v): return u32(len(v)) + (v.encode() if isinstance(v, str) else v)


def test_the_documents_ping_example():
    # Section 1: "a Ping request with id 5 and empty data".
    expected = bytes.fromhex("53 32 01 00 00 00 00 00 02 00 00 00 05 00 00 00 04 00 00 00 00 00 00 00")
    assert encode_frame(1, 0, 2, 5, m.Ping(data=b"").encode()) == expected
    header = parse_header(expected)
    assert (header.kind, header.service, header.op, header.id, header.length) == (1, 0, 2, 5, 4)


GOLDEN = [
    (m.Empty(), b""),
    (m.Error(code=4, errno=2, message="no such file"), u32(4) + i32(2) + s("no such file")),
    (m.HelloRequest(version=1, max_frame=65536, client="py"), u32(1) + u32(65536) + s("py")),
    (m.HelloResponse(version=1, max_frame=1 << 20, agent="dbgd 0.1.0", services=[0, 0x60, 0x70], features="arch=x"),
     u32(1) + u32(1 << 20) + s("dbgd 0.1.0") + u32(3) + u32(0) + u32(0x60) + u32(0x70) + s("arch=x")),
    (m.Ping(data=b"\x00\xff"), s(b"\x00\xff")),
    (m.AuthRequest(username="root", password="pw"), s("root") + s("pw")),
    (m.SessionInfo(token="ab" * 32, username="root", uid=0, gid=0, home="/root", shell="/bin/sh"),
     s("ab" * 32) + s("root") + u32(0) + u32(0) + s("/root") + s("/bin/sh")),
    (m.SessionToken(token="t"), s("t")),
    (m.ExecRequest(token="t", command="ls -l", cwd="/tmp", timeout_sec=-1), s("t") + s("ls -l") + s("/tmp") + i32(-1)),
    (m.ExecResult(exit_code=-9, stdout=b"o", stderr=b"", stdout_truncated=True, stderr_truncated=False),
     i64(-9) + s(b"o") + s(b"") + u8(1) + u8(0)),
    (m.ShellOpenRequest(token="t", cwd="", rows=24, cols=80), s("t") + s("") + i64(24) + i64(80)),
    (m.ShellInputRequest(token="t", session_id=7, data=b"ls\n"), s("t") + u32(7) + s(b"ls\n")),
    (m.ShellResizeRequest(token="t", session_id=7, rows=50, cols=132), s("t") + u32(7) + i64(50) + i64(132)),
    (m.ShellCloseRequest(token="t", session_id=7), s("t") + u32(7)),
    (m.ReadFileRequest(token="t", path="/etc/hostname", offset=1 << 40, size=4096),
     s("t") + s("/etc/hostname") + u64(1 << 40) + u32(4096)),
    (m.FileChunk(data=b"abc", eof=True), s(b"abc") + u8(1)),
    (m.WriteFileRequest(token="t", path="f", offset=3, data=b"xy", truncate=True, mode=0o600),
     s("t") + s("f") + u64(3) + s(b"xy") + u8(1) + u32(0o600)),
    (m.WriteFileResult(written=2), u32(2)),
    (m.PathRequest(token="t", path="p"), s("t") + s("p")),
    (m.FileInfo(type=2, mode=0o1777, uid=1, gid=2, size=4096, mtime=-1), u32(2) + u32(0o1777) + u32(1) + u32(2)
     + u64(4096) + i64(-1)),
    (m.ListDirRequest(token="t", path="d", cookie=9), s("t") + s("d") + u64(9)),
    (m.DirEntry(name="a b", type=1, mode=0o644, size=5, mtime=1700000000), s("a b") + u32(1) + u32(0o644) + u64(5)
     + i64(1700000000)),
    (m.DirPage(entries=[m.DirEntry(name="x", type=1, mode=0, size=0, mtime=0)], next_cookie=1, done=False),
     u32(1) + s("x") + u32(1) + u32(0) + u64(0) + i64(0) + u64(1) + u8(0)),
    (m.MkdirRequest(token="t", path="d", mode=0o700, parents=True), s("t") + s("d") + u32(0o700) + u8(1)),
    (m.RemoveRequest(token="t", path="d", recursive=True), s("t") + s("d") + u8(1)),
    (m.RenameRequest(token="t", from_path="a", to_path="b", replace=False), s("t") + s("a") + s("b") + u8(0)),
    (m.HashRequest(token="t", path="f", offset=0, length=10), s("t") + s("f") + u64(0) + u64(10)),
    (m.HashResult(digest=bytes(32), length=10), s(bytes(32)) + u64(10)),
    (m.ShellSession(session_id=3), u32(3)),
    (m.ShellData(session_id=3, data=b"$ "), u32(3) + s(b"$ ")),
    (m.ShellExitEvent(session_id=3, exit_code=129), u32(3) + i64(129)),
    (m.Argument(value=b"-l"), s(b"-l")),
    (m.ProcessStartRequest(token="t", argv=[m.Argument(value=b"ls"), m.Argument(value=b"-l")], command="", cwd="/",
                           env=[m.Argument(value=b"A=1")], terminal=True, rows=24, cols=80, timeout_sec=0),
     s("t") + u32(2) + s(b"ls") + s(b"-l") + s("") + s("/") + u32(1) + s(b"A=1") + u8(1) + i64(24) + i64(80) + i32(0)),
    (m.ProcessInputRequest(token="t", process_id=4, data=b"in"), s("t") + u32(4) + s(b"in")),
    (m.ProcessRef(token="t", process_id=4), s("t") + u32(4)),
    (m.ProcessSignalRequest(token="t", process_id=4, signal=15), s("t") + u32(4) + i32(15)),
    (m.ProcessResizeRequest(token="t", process_id=4, rows=1, cols=2), s("t") + u32(4) + i64(1) + i64(2)),
    (m.ProcessStarted(process_id=4, input_window=262144), u32(4) + u32(262144)),
    (m.ProcessData(process_id=4, data=b"out"), u32(4) + s(b"out")),
    (m.ProcessCredit(process_id=4, bytes=2), u32(4) + u32(2)),
    (m.ProcessExitEvent(process_id=4, exit_code=130, signal=2, core_dumped=False, timed_out=True),
     u32(4) + i64(130) + i32(2) + u8(0) + u8(1)),
    (m.AppCallRequest(token="t", message=b'{"jsonrpc":"2.0"}'), s("t") + s(b'{"jsonrpc":"2.0"}')),
    (m.AppCallResult(message=b"{}"), s(b"{}")),
    (m.StatusResponse(installed=True, path="/var/lib/dbgd/distro", size=5 << 30),
     u8(1) + s("/var/lib/dbgd/distro") + i64(5 << 30)),
    (m.InstallRequest(url="http://host/rootfs.tar.zst"), s("http://host/rootfs.tar.zst")),
    (m.RunRequest(command="uname -a", workdir="/", bind="/a:/b", env="A=1\nB=2", input=b"in"),
     s("uname -a") + s("/") + s("/a:/b") + s("A=1\nB=2") + s(b"in")),
    (m.RunResult(stdout=b"o", stderr=b"e", exit_code=3), s(b"o") + s(b"e") + i64(3)),
    (m.DistroShellOpenRequest(workdir="", bind="", env="", rows=24, cols=80), s("") * 3 + i64(24) + i64(80)),
    (m.DistroShellResizeRequest(session_id=2, rows=40, cols=120), u32(2) + i64(40) + i64(120)),
    (m.RunStartRequest(command="sh", workdir="/", bind="", env="", terminal=False, rows=0, cols=0, timeout_sec=5),
     s("sh") + s("/") + s("") + s("") + u8(0) + i64(0) + i64(0) + i32(5)),
    (m.RunRef(process_id=6), u32(6)),
    (m.RunSignalRequest(process_id=6, signal=9), u32(6) + i32(9)),
    (m.RunResizeRequest(process_id=6, rows=1, cols=2), u32(6) + i64(1) + i64(2)),
]


def test_golden_bytes_cover_every_message_type():
    assert {type(message).type_name for message, _ in GOLDEN} == set(m.FIELDS)


@pytest.mark.parametrize("message,expected", GOLDEN, ids=[type(g[0]).type_name for g in GOLDEN])
def test_golden_bytes(message, expected):
    assert message.encode() == expected
    assert type(message).decode(expected) == message


@pytest.mark.parametrize("payload,why", [
    (s("t")[:-1], "ends"),               # a string cut short
    (s("t") + b"\x00", "left over"),     # a byte too many
    (u32(1 << 31) + b"x", "ends"),       # a length pointing past the end
])
def test_payloads_are_consumed_exactly(payload, why):
    with pytest.raises(errors.ProtocolError, match=why):
        m.SessionToken.decode(payload)


def test_a_bool_is_0_or_1():
    with pytest.raises(errors.ProtocolError, match="bool"):
        m.FileChunk.decode(s(b"") + u8(2))


def test_integers_are_range_checked_before_sending():
    with pytest.raises(ValueError):
        m.ExecRequest(token="t", command="x", cwd="", timeout_sec=1 << 31).encode()
    with pytest.raises(ValueError):
        m.ReadFileRequest(token="t", path="p", offset=-1, size=0).encode()


def test_strings_keep_any_bytes():
    name = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    assert m.PathRequest.decode(m.PathRequest(token="t", path=name).encode()).path == name
    assert m.PathRequest(token="t", path=b"\xff").encode() == s("t") + s(b"\xff")


def test_frame_reader_takes_bytes_as_they_come():
    stream = encode_frame(2, 0, 2, 1, m.Ping(data=b"a").encode()) + encode_frame(4, 0x60, 0x0630, 0, b"\x01\x02")
    reader = FrameReader()
    frames = []
    for index, byte in enumerate(stream):
        reader.feed(bytes([byte]))
        assert reader.has_frame == (index in (20 + 5 - 1, len(stream) - 1))
        frames += reader.frames()
    assert [(h.kind, h.op, h.id, p) for h, p in frames] == [(2, 2, 1, s(b"a")), (4, 0x0630, 0, b"\x01\x02")]
    assert reader.buffered == 0


@pytest.mark.parametrize("header,why", [
    (b"XX" + bytes(18), "magic"),
    (b"S2\x02\x01" + bytes(16), "flags"),
    (b"S2\x09\x00" + bytes(16), "kind"),
    (b"S2\x02\x00" + bytes(12) + u32(1 << 30), "above"),
])
def test_frame_rules(header, why):
    reader = FrameReader(max_payload=1 << 20)
    reader.feed(header)
    with pytest.raises(errors.ProtocolError, match=why):
        reader.next_frame()


def test_every_error_code_has_its_exception():
    names = {1: errors.BadRequest, 2: errors.Unauthenticated, 3: errors.Denied, 4: errors.NotFound, 5: errors.Exists,
             6: errors.TooLarge, 7: errors.Busy, 8: errors.Timeout, 9: errors.Unsupported, 10: errors.Internal,
             11: errors.IOFailure}
    for code, cls in names.items():
        error = errors.remote_error(code, 5 if code == 11 else 0, "why")
        assert type(error) is cls and error.code == code and error.message == "why"
        assert isinstance(error, errors.RemoteError) and isinstance(error, errors.DbgError)
    unknown = errors.remote_error(99, 0, "new")
    assert type(unknown) is errors.RemoteError and unknown.code == 99


@pytest.mark.parametrize("text,expected", [
    ("board", ("tcp", "board", 5037)),
    ("10.0.0.2:6000", ("tcp", "10.0.0.2", 6000)),
    ("[fe80::1]:5037", ("tcp", "fe80::1", 5037)),
    ("[::1]", ("tcp", "::1", 5037)),
    ("tls://board", ("tls", "board", 5037)),
    ("unix:/run/dbgd.sock", ("unix", "", 0)),
    ("serial:/dev/ttyUSB0,921600", ("serial", "", 0)),
    ("rfc2217://lab:3001", ("network-serial", "lab", 3001)),
])
def test_targets(text, expected):
    target = parse(text)
    assert (target.kind, target.host, target.port) == expected
    assert str(parse(str(target))) == str(target)


@pytest.mark.parametrize("text", ["", "::1", "[::1", "host:99999", "host:x", "unix:", "socket://lab"])
def test_bad_targets(text):
    with pytest.raises(errors.ConnectError):
        parse(text)


def test_a_large_field_can_be_sent_from_where_it_lies():
    request = m.WriteFileRequest(token="t", path="p", offset=7, data=memoryview(b"x" * 1000), truncate=True, mode=0o600)
    before, after = request.encode_around("data")
    assert before + b"x" * 1000 + after == m.WriteFileRequest(token="t", path="p", offset=7, data=b"x" * 1000,
                                                              truncate=True, mode=0o600).encode()
    with pytest.raises(ValueError):
        request.encode_around("nothing")


def test_a_large_payload_is_handed_out_to_be_filled_in_place():
    payload = m.FileChunk(data=b"y" * 300000, eof=True).encode()
    stream = encode_frame(2, 0x60, 0x0620, 9, payload)
    reader = FrameReader()
    reader.feed(stream[:1000])
    assert reader.next_frame() is None  # its header is read
    assert reader.start_large_payload(1 << 20) is None  # it lacks less than that
    header, buffer, filled = reader.start_large_payload(64 << 10)
    assert (header.id, header.length, filled) == (9, len(payload), 1000 - 20)
    buffer[filled:] = stream[1000:]
    assert bytes(buffer) == payload and reader.buffered == 0 and reader.next_frame() is None
