"""The HTTP + WebSocket API (seed 003) end to end: REST with urllib and curl, the
WebSocket calls with the PyPI `websockets` client (an independent, strict
implementation), and malformed HTTP and WebSocket traffic on raw sockets, each answered
with its status or close code while a witness connection goes on being served."""

import base64
import gzip
import io
import json
import os
import re
import socket
import struct
import subprocess
import tarfile
import time
import urllib.error
import urllib.request

import pytest

from conftest import PASSWORD, Agent

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as ws_connect  # noqa: E402


class HTTPAgent:
    def __init__(self, agent: Agent):
        self.agent = agent
        found = re.search(r"web console on http://(127\.0\.0\.1:\d+)/", agent.log.read_text(errors="replace"))
        assert found, agent.log.read_text(errors="replace")
        self.host = found.group(1)
        self.base = "http://" + self.host

    def request(self, method, path, body=None, token=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=dict(headers or {}))
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, dict(answer.headers), json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")

    def login(self):
        status, headers, body = self.request("POST", "/api/v1/auth", {"user": self.agent.user, "password": PASSWORD})
        assert status == 200, body
        return body["token"]

    def ws(self, token, **options):
        return ws_connect("ws://%s/api/v1/ws/?token=%s" % (self.host, token), max_size=None, open_timeout=10, **options)


@pytest.fixture(scope="module")
def http(agent, tmp_path_factory):
    folder = tmp_path_factory.mktemp("http-agent")
    agent.share_account(folder)
    app_dir = folder / "app"
    (app_dir / "actions" / "greet").mkdir(parents=True)
    (app_dir / "main").write_text("#!/bin/sh\necho main started\nwhile sleep 0.2; do echo tick; done\n")
    (app_dir / "actions" / "greet" / "run").write_text(
        "#!/bin/sh\nread input\necho \"{\\\"greeting\\\": \\\"hello\\\", \\\"input\\\": $input}\"\n")
    for script in ("main", "actions/greet/run"):
        os.chmod(app_dir / script, 0o755)
    running = Agent(folder, ["--http", "127.0.0.1:0", "--handshake-timeout", "2", "--app-dir", str(app_dir),
                             "--rpc-socket", "none"], create_account=False)
    yield HTTPAgent(running)
    running.stop()


def run_call(http, token, call, params, inputs=(), signals=(), binary_inputs=()):
    """Runs one call; returns its text lines, its ResultMessage and the close code."""
    lines, result = [], None
    with http.ws(token) as ws:
        ws.send(json.dumps({"call": call, "params": params}).encode())
        for line in inputs:
            ws.send(line)
        for frame in binary_inputs:
            ws.send(frame)
        for signal in signals:
            ws.send(json.dumps({"signal": signal}).encode())
        try:
            for message in ws:
                if isinstance(message, str):
                    lines.append(message)
                else:
                    assert result is None, "one ResultMessage only"
                    result = json.loads(message)
        except websockets.exceptions.ConnectionClosedError:
            pass
        return lines, result, ws.close_code


# MARK: REST


def test_rest_routes_with_urllib(http):
    status, _, systems = http.request("GET", "/api/v1/systems")
    assert status == 200 and len(systems) == 1
    assert set(systems[0]) == {"name", "version", "architecture"}, "without a session only the public fields"
    status, _, body = http.request("POST", "/api/v1/auth", {"user": http.agent.user, "password": "wrong"})
    assert status == 401 and body == {"error": "authentication failed"}
    status, headers, body = http.request("POST", "/api/v1/auth", {"user": http.agent.user, "password": PASSWORD})
    assert status == 200 and re.fullmatch(r"[0-9a-f]{64}", body["token"])
    cookie = headers["Set-Cookie"]
    assert cookie.startswith("dbg_token=" + body["token"]) and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = body["token"]
    assert body["user"] == http.agent.user and body["uid"] == os.getuid()
    status, _, me = http.request("GET", "/api/v1/auth", token=token)
    assert status == 200 and me["user"] == http.agent.user and me["gid"] == os.getgid()
    assert abs(me["since"] - time.time()) < 60 and isinstance(me["groups"], list)
    status, _, me = http.request("GET", "/api/v1/auth", headers={"Cookie": "other=1; dbg_token=" + token})
    assert status == 200, "the cookie counts too"
    status, _, detailed = http.request("GET", "/api/v1/systems", token=token)
    system = detailed[0]
    assert system["kernel"].startswith("Linux ") and system["uptime"] > 0 and len(system["load"]) == 3
    assert system["memory"]["totalKiB"] > 0 and system["disks"][0]["path"] == "/"
    assert system["distro"]["installed"] is False and system["app"]["state"] in ("stopped", "running")
    status, _, news = http.request("GET", "/api/v1/news", token=token)
    assert status == 200 and news[0]["kind"] == "login" and http.agent.user in news[0]["text"]
    assert any(item["kind"] == "login-failed" for item in news) and news[-1]["kind"] == "agent"
    assert [item["id"] for item in news] == sorted((item["id"] for item in news), reverse=True), "newest first"
    assert http.request("GET", "/api/v1/news")[0] == 401
    assert http.request("GET", "/api/v1/http/news", token=token)[0] == 200, "the seed's /api/v1/http/ prefix"
    status, _, body = http.request("GET", "/api/v1/nothing")
    assert status == 404 and "error" in body
    status, headers, body = http.request("PUT", "/api/v1/auth", {})
    assert status == 405 and headers["Allow"] == "GET, POST, DELETE" and "error" in body
    status, _, body = http.request("POST", "/api/v1/auth", {"user": 5})
    assert status == 400 and "two strings" in body["error"]
    status, headers, _ = http.request("DELETE", "/api/v1/auth", token=token)
    assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]
    assert http.request("GET", "/api/v1/auth", token=token)[0] == 401, "logged out"
    assert http.request("GET", "/api/v1/auth")[0] == 401


def test_http_sessions_take_at_most_half_the_table(http):
    tokens = [http.login() for _ in range(9)]  # --max-sessions 16: 8 for HTTP
    assert http.request("GET", "/api/v1/auth", token=tokens[0])[0] == 401, "the one unused for longest made room"
    assert all(http.request("GET", "/api/v1/auth", token=token)[0] == 200 for token in tokens[1:])
    import dbgclient
    with dbgclient.connect(http.agent.address, user=http.agent.user, password=PASSWORD) as board:
        assert board.run(["true"]).exit_code == 0, "Sutra clients still log in"
    for token in tokens[1:]:
        assert http.request("DELETE", "/api/v1/auth", token=token)[0] == 200


def test_rest_with_curl_keeps_the_connection(http):
    token = http.login()
    jar = http.agent.folder / "jar"
    run = subprocess.run(["curl", "-sv", "-H", "Authorization: Bearer " + token, http.base + "/api/v1/systems",
                          http.base + "/api/v1/news", http.base + "/"], capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert b"Re-using existing connection" in run.stderr or b"Reusing existing" in run.stderr
    assert b'"kernel"' in run.stdout and b"<!doctype html>" in run.stdout
    run = subprocess.run(["curl", "-s", "-c", str(jar), "-H", "Content-Type: application/json", "-d",
                          json.dumps({"user": http.agent.user, "password": PASSWORD}), http.base + "/api/v1/auth"],
                         capture_output=True, timeout=30)
    assert b'"token"' in run.stdout
    run = subprocess.run(["curl", "-s", "-b", str(jar), http.base + "/api/v1/auth"], capture_output=True, timeout=30)
    assert json.loads(run.stdout)["user"] == http.agent.user
    head = subprocess.run(["curl", "-sI", http.base + "/"], capture_output=True, timeout=30).stdout
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Security-Policy" in head


# MARK: WebSocket


def test_websocket_calls(http):
    token = http.login()
    lines, result, code = run_call(http, token, "exec", ["uname", "-s"])
    assert lines == ["Linux"] and result == {"success": True} and code == 1000
    lines, result, _ = run_call(http, token, "sh", ["echo out; echo err >&2; exit 3"])
    assert sorted(lines) == ["err", "out"] and result == {"success": False, "message": "exit status 3"}
    lines, result, _ = run_call(http, token, "exec", ["cat"], inputs=["hello", "wörld", ""], signals=["eof"])
    assert lines == ["hello", "wörld", ""] and result == {"success": True}
    lines, result, _ = run_call(http, token, "exec", ["cat"], inputs=["one", "\u0004"])
    assert lines == ["one"] and result == {"success": True}, "U+0004 alone ends the input"
    lines, result, _ = run_call(http, token, "sh", ["printf 'a\\r\\nb'"])
    assert lines == ["a", "b"], "CR LF ends a line too; the last line needs no end"
    lines, result, _ = run_call(http, token, "exec", ["no-such-program-here"])
    assert lines == [] and result["success"] is False and "not found" in result["message"]
    lines, result, code = run_call(http, token, "bogus", [])
    assert result["success"] is False and "unknown call" in result["message"] and code == 1008
    lines, result, _ = run_call(http, token, "sh", ["kill -9 $$"])
    assert result == {"success": False, "message": "killed by signal 9"}


def test_websocket_bulk_output_binary_and_long_lines(http):
    token = http.login()
    started = time.monotonic()
    lines, result, _ = run_call(http, token, "sh", ["seq 100000"])
    assert result == {"success": True} and len(lines) == 100000 and lines[0] == "1" and lines[-1] == "100000"
    print("100000 lines in %.2f s" % (time.monotonic() - started))
    lines, result, _ = run_call(http, token, "sh", ["printf 'ok\\377\\376x\\n\\342\\202\\254\\n'"])
    assert lines == ["ok\ufffd\ufffdx", "\u20ac"], "bytes that are not UTF-8 become U+FFFD"
    lines, result, _ = run_call(http, token, "sh", ["head -c 1048576 /dev/zero | tr '\\0' y; echo; echo after"])
    assert [len(line) for line in lines] == [1048576, 5] and set(lines[0]) == {"y"}, "a 1 MiB line is one message"
    big = "z" * (1 << 20)
    lines, result, _ = run_call(http, token, "exec", ["wc", "-c"], inputs=[big], signals=["eof"])
    assert lines == [str((1 << 20) + 1)], "a 1 MiB input line reaches stdin whole, with its newline"


def test_cancel_and_close_end_the_process_group(http):
    token = http.login()
    started = time.monotonic()
    lines, result, _ = run_call(http, token, "sh", ["echo started; sleep 60"], signals=["cancel"])
    assert result == {"success": False, "message": "cancelled"} and time.monotonic() - started < 10
    marker = "sleep %d" % (6000 + os.getpid() % 1000)  # a command line of this test alone
    with http.ws(token) as ws:
        ws.send(json.dumps({"call": "sh", "params": ["echo $$; exec %s" % marker]}).encode())
        pid = int(ws.recv(timeout=10))
        assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0, "it runs"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
        time.sleep(0.1)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0, "closing is cancelling"
    assert not os.path.exists("/proc/%d" % pid) or "Z" in open("/proc/%d/stat" % pid).read().split()[2]
    # A connection that drops without a close frame is a cancel too.
    sock = handshake(http, token)
    call = json.dumps({"call": "sh", "params": ["exec " + marker]}).encode()
    sock.sendall(frame(2, call))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0:
        time.sleep(0.05)
    sock.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
        time.sleep(0.1)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode != 0, "dropping is cancelling"


def test_websocket_authentication(http):
    token = http.login()
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        ws_connect("ws://%s/api/v1/ws/" % http.host, open_timeout=10)
    assert refused.value.response.status_code == 401
    header = [("Cookie", "dbg_token=" + token)]
    with ws_connect("ws://%s/api/v1/ws/" % http.host, additional_headers=header, open_timeout=10) as ws:
        ws.send(json.dumps({"call": "exec", "params": ["true"]}).encode())
        assert json.loads(ws.recv(timeout=10)) == {"success": True}
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        ws_connect("ws://%s/api/v1/ws/" % http.host, additional_headers=header, origin="http://evil.example",
                   open_timeout=10)
    assert refused.value.response.status_code == 401, "a cookie from another site's page counts for nothing"
    with http.ws(token, origin="http://evil.example") as ws:
        ws.send(json.dumps({"call": "exec", "params": ["true"]}).encode())
        assert json.loads(ws.recv(timeout=10)) == {"success": True}, "a token given on purpose works from anywhere"
    # Logging out ends what the session runs, and a call it has not made yet.
    with http.ws(token) as running, http.ws(token) as waiting:
        running.send(json.dumps({"call": "sh", "params": ["echo up; sleep 60"]}).encode())
        assert running.recv(timeout=10) == "up"
        assert http.request("DELETE", "/api/v1/auth", token=token)[0] == 200
        assert json.loads(running.recv(timeout=10)) == {"success": False, "message": "killed by signal 1"}
        waiting.send(json.dumps({"call": "exec", "params": ["true"]}).encode())
        assert json.loads(waiting.recv(timeout=10)) == {"success": False, "message": "the session has ended (logged out)"}


def test_app_calls(http):
    token = http.login()
    lines, result, _ = run_call(http, token, "action", ["greet", '{"name": "lab"}'])
    assert result == {"success": True} and json.loads(lines[-1]) == {"greeting": "hello", "input": {"name": "lab"}}
    lines, result, _ = run_call(http, token, "action", ["missing"])
    assert result["success"] is False and "no action missing" in result["message"]
    lines, result, _ = run_call(http, token, "action", ["greet", "{not json"])
    assert result["success"] is False and "not JSON" in result["message"]
    import dbgclient
    with dbgclient.connect(http.agent.address, user=http.agent.user, password=PASSWORD) as board:
        board.app.start()
    with http.ws(token) as ws:
        ws.send(json.dumps({"call": "app-logs", "params": []}).encode())
        seen = []
        deadline = time.monotonic() + 10
        while "tick" not in seen and time.monotonic() < deadline:
            message = ws.recv(timeout=10)
            if isinstance(message, str):
                seen.append(message)
        ws.send(json.dumps({"signal": "cancel"}).encode())
        rest = [m for m in ws]
        assert json.loads(rest[-1]) == {"success": True}
    assert "main started" in seen and "tick" in seen


@pytest.mark.skipif(os.getuid() != 0, reason="distro-install needs root")
def test_distro_install(http, tmp_path):
    token = http.login()
    archive = tmp_path / "rootfs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("bin", "etc"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        data = b"#!/bin/false\n"
        info = tarfile.TarInfo("bin/sh")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    lines, result, _ = run_call(http, token, "distro-install", [str(archive)])
    assert result == {"success": True}, (lines, result)
    assert lines[0].startswith("installing ") and lines[-1].startswith("installed into ")
    status, _, systems = http.request("GET", "/api/v1/systems", token=token)
    assert systems[0]["distro"]["installed"] is True
    lines, result, _ = run_call(http, token, "distro-install", [str(archive)])
    assert result["success"] is False and "already installed" in result["message"]


# MARK: Bad input


def raw_exchange(http, payload: bytes, timeout=5.0, pause=None) -> bytes:
    with socket.create_connection(http.host.split(":"), timeout=timeout) as sock:
        if pause is None:
            sock.sendall(payload)
        else:
            try:
                for byte in payload:
                    sock.sendall(bytes([byte]))
                    time.sleep(pause)
            except (BrokenPipeError, ConnectionResetError):
                pass  # cut off: what it answered is read below
        sock.shutdown(socket.SHUT_WR) if pause is None else None
        return read_until_closed(sock)


def read_until_closed(sock) -> bytes:
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", answer)
    assert match, answer[:200]
    return int(match.group(1))


MALFORMED_HTTP = [
    (b"GET\r\n\r\n", 400),
    (b"GET /\r\n\r\n", 400),
    (b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505),
    (b"GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: x\n\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\x00\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", 400),
    (b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", 413),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"POST /api/v1/auth HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"user\":1", 400),
    (b"GET /api/v1/ws/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", 400),
    (b"GET /api/v1/ws/ HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", 426),
    (b"GET /api/v1/ws/ HTTP/1.1\r\nHost: x\r\n\r\n", 426),
    (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01garbage after a good request", 400),
]


def test_malformed_http_gets_its_status_and_the_witness_is_served(http):
    assert len(MALFORMED_HTTP) >= 30
    witness = socket.create_connection(http.host.split(":"), timeout=10)
    try:
        for request, status in MALFORMED_HTTP:
            answer = raw_exchange(http, request)
            statuses = [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
            assert statuses and statuses[-1] == status, (request[:80], answer[:300])
            witness.sendall(b"GET /api/v1/systems HTTP/1.1\r\nHost: w\r\n\r\n")
            reply = witness.recv(65536)
            assert status_of(reply) == 200, "the witness goes on being served"
    finally:
        witness.close()


def test_slowloris_is_cut_off(http):
    started = time.monotonic()
    answer = raw_exchange(http, b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"y" * 40, timeout=15, pause=0.25)
    assert status_of(answer) == 408, answer
    assert time.monotonic() - started < 9, "closed at the head deadline (--handshake-timeout 2), not at the end"


def handshake(http, token) -> socket.socket:
    sock = socket.create_connection(http.host.split(":"), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /api/v1/ws/?token=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n" % (token, http.host, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def frame(opcode, payload=b"", fin=True, masked=True, rsv=0, length=None):
    first = (0x80 if fin else 0) | rsv | opcode
    size = len(payload) if length is None else length
    mask_bit = 0x80 if masked else 0
    if size < 126:
        head = bytes([first, mask_bit | size])
    elif size < 65536:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", size)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def server_frames(sock):
    """The frames the server sends until it closes: (opcode, payload)."""
    data = read_until_closed(sock)
    frames = []
    while len(data) >= 2:
        opcode, size = data[0] & 0x0F, data[1] & 0x7F
        offset = 2
        if size == 126:
            size, offset = struct.unpack("!H", data[2:4])[0], 4
        elif size == 127:
            size, offset = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((opcode, data[offset:offset + size]))
        data = data[offset + size:]
    return frames


CALL = json.dumps({"call": "exec", "params": ["cat"]}).encode()

MALFORMED_WEBSOCKET = [
    ("unmasked frame", [frame(2, CALL, masked=False)], 1002),
    ("reserved bits", [frame(2, CALL, rsv=0x40)], 1002),
    ("unknown opcode", [frame(3, b"x")], 1002),
    ("control frame over 125 bytes", [frame(9, b"p" * 126)], 1002),
    ("fragmented control frame", [frame(9, b"p", fin=False)], 1002),
    ("continuation outside a message", [frame(0, b"x")], 1002),
    ("new message inside a fragmented one", [frame(2, b"{", fin=False), frame(2, b"}")], 1002),
    ("binary message too large", [frame(2, b"x" * 20000)], 1009),
    ("invalid UTF-8 in a text frame", [frame(2, CALL), frame(1, b"\xff\xfe")], 1007),
    ("text ending inside a character", [frame(2, CALL), frame(1, b"\xe2\x82")], 1007),
    ("text before the CallMessage", [frame(1, b"hello")], 1008),
    ("CallMessage that is not JSON", [frame(2, b"{call")], 1008),
    ("SignalMessage first", [frame(2, b'{"signal": "cancel"}')], 1008),
    ("params not strings", [frame(2, b'{"call": "exec", "params": [1]}')], 1008),
    ("close with a 1-byte body", [frame(8, b"\x03")], 1002),
    ("close with a reserved code", [frame(8, struct.pack("!H", 1005))], 1002),
    ("close with a bad reason", [frame(8, struct.pack("!H", 1000) + b"\xff")], 1007),
]


def test_malformed_websocket_traffic_gets_its_close_code(http):
    token = http.login()
    witness = http.ws(token)
    witness.send(json.dumps({"call": "exec", "params": ["cat"]}).encode())
    try:
        for name, frames, code in MALFORMED_WEBSOCKET:
            sock = handshake(http, token)
            for data in frames:
                sock.sendall(data)
            received = server_frames(sock)
            sock.close()
            closes = [payload for opcode, payload in received if opcode == 8]
            results = [json.loads(payload) for opcode, payload in received if opcode == 2]
            assert closes and struct.unpack("!H", closes[0][:2])[0] == code, (name, received)
            assert len(results) == 1 and results[0]["success"] is False, (name, received)
            witness.send(name)
            assert witness.recv(timeout=10) == name, "the witness goes on being served"
        # A close frame answered in kind, and a ping with a pong.
        sock = handshake(http, token)
        sock.sendall(frame(9, b"are you there") + frame(8, struct.pack("!H", 1000)))
        received = server_frames(sock)
        assert (10, b"are you there") in received and received[-1] == (8, struct.pack("!H", 1000))
    finally:
        witness.close()


def test_fragmented_messages_both_ways(http):
    token = http.login()
    sock = handshake(http, token)
    half = len(CALL) // 2
    sock.sendall(frame(2, CALL[:half], fin=False) + frame(9, b"between") + frame(0, CALL[half:]))
    sock.sendall(frame(1, "fräg".encode()[:3], fin=False) + frame(0, "fräg".encode()[3:]))
    sock.sendall(frame(2, b'{"signal": "eof"}'))
    received = server_frames(sock)
    sock.close()
    assert (10, b"between") in received
    assert (1, "fräg".encode()) in received and json.loads([p for o, p in received if o == 2][0]) == {"success": True}


def test_console_page_is_small_and_self_contained(http):
    with urllib.request.urlopen(http.base + "/", timeout=10) as answer:
        page = answer.read()
        policy = answer.headers["Content-Security-Policy"]
    assert len(page) <= 24 * 1024, len(page)
    assert b"http://" not in page and b"https://" not in page, "no external assets"
    assert "default-src 'none'" in policy
    print("console page: %d bytes" % len(page))


def test_a_slow_reader_gets_all_the_output(http):
    """The agent has queued everything and its close long before this client reads it:
    it waits while the client goes on taking the bytes, then the close comes."""
    token = http.login()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(10)
    sock.connect(tuple(http.host.rsplit(":", 1)[:1]) + (int(http.host.rsplit(":", 1)[1]),))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET /api/v1/ws/?token=%s HTTP/1.1\r\nHost: b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n" % (token, key)).encode())
    sock.sendall(frame(2, json.dumps({"call": "sh", "params": ["seq 100000"]}).encode()))
    time.sleep(3)  # longer than the agent's linger after its close
    data = b""
    while True:
        chunk = sock.recv(8192)
        if not chunk:
            break
        data += chunk
        time.sleep(0.002)
    sock.close()
    data = data[data.index(b"\r\n\r\n") + 4:]
    lines, results, offset = 0, [], 0
    while offset + 2 <= len(data):
        opcode, size = data[offset] & 0x0F, data[offset + 1] & 0x7F
        head = 2
        if size == 126:
            size, head = struct.unpack("!H", data[offset + 2:offset + 4])[0], 4
        if opcode == 1:
            lines += 1
        elif opcode == 2:
            results.append(json.loads(data[offset + head:offset + head + size]))
        offset += head + size
    assert lines == 100000 and results == [{"success": True}]
    # A client library that reads at its own pace from its own socket buffer: its close
    # frame comes seconds after the agent's, and must not meet a closed socket.
    with http.ws(token) as ws:
        ws.send(json.dumps({"call": "sh", "params": ["seq 8000"]}).encode())
        count = 0
        for message in ws:
            if isinstance(message, str):
                count += 1
                time.sleep(0.0004)
            else:
                assert json.loads(message) == {"success": True}
        assert count == 8000 and ws.close_code == 1000


def test_sessions_end_when_unused_but_not_under_a_running_call(agent, tmp_path):
    folder = tmp_path / "short-sessions"
    folder.mkdir()
    agent.share_account(folder)
    running = Agent(folder, ["--http", "127.0.0.1:0", "--http-session-timeout", "2"], create_account=False)
    try:
        short = HTTPAgent(running)
        idle, busy = short.login(), short.login()
        lines, result, _ = run_call(short, busy, "sh", ["sleep 4; echo still here"])
        assert lines == ["still here"] and result == {"success": True}, "a call keeps its session"
        assert short.request("GET", "/api/v1/auth", token=busy)[0] == 200
        assert short.request("GET", "/api/v1/auth", token=idle)[0] == 401, "unused for 2 s: ended"
        assert "HTTP session unused for 2 s" in running.log.read_text(errors="replace")
    finally:
        running.stop()
