"""The proxy service of the channel protocol (seed 004): a socket on the board per
channel, through the forwarder of `dbg forward` (connect, send, recv, disconnect), with
real TCP and Unix servers on loopback as the far ends."""

import os
import socket
import tempfile
import threading
import time

from conftest import Agent
from test_channels import Channels, api, http  # noqa: F401 (fixtures)
from test_http import HTTPAgent


class Server:
    """A loopback server (TCP, or Unix at `path`) whose connections run `handle`."""

    def __init__(self, handle, path=None):
        self.path = path
        if path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(path)
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(10)
        self.handle = handle
        self.received = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return self.path or "127.0.0.1:%d" % self.sock.getsockname()[1]

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            self.handle(conn, self)

    def close(self):
        self.sock.close()
        self.thread.join(timeout=10)


def echo(conn, server):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        server.received.append(data)
        conn.sendall(data)


def collect(conn, server):
    """Reads to the end; notes a reset."""
    total = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            total += data
    except ConnectionResetError:
        server.received.append("reset")
    server.received.append(total)


def connect(http, api):
    channels = Channels(http, api, http.login())
    assert channels.receive().WhichOneof("body") == "containerState"
    opened = channels.call(openChan=api.OpenChannel(service="proxy"), ref="open")
    assert opened.openChanRes.state == api.OpenChannelRes.CREATED, opened
    return channels, opened.openChanRes.id


def received_until(channels, channel, count):
    data = b""
    while len(data) < count:
        message = channels.receive()
        assert message.channel == channel and message.WhichOneof("body") == "recv", message
        data += message.recv.buff
    return data


def test_a_tcp_socket_both_ways_and_its_end(http, api):
    server = Server(echo)
    channels, channel = connect(http, api)
    try:
        answer = channels.call(channel=channel, connect=api.Connect(proto="tcp", addr=server.address), ref="c")
        assert answer.WhichOneof("body") == "ok" and answer.ref == "c" and answer.channel == channel, answer
        answer = channels.call(channel=channel, connect=api.Connect(addr=server.address), ref="again")
        assert answer.error.startswith("a socket is open on this channel") and answer.ref == "again"

        channels.send(api.Command(channel=channel, send=api.Send(buff=b"hello")))
        assert received_until(channels, channel, 5) == b"hello"
        payload = os.urandom(1 << 20)
        for offset in range(0, len(payload), 8192):
            channels.send(api.Command(channel=channel, send=api.Send(buff=payload[offset:offset + 8192])))
        assert received_until(channels, channel, len(payload)) == payload

        # The client's disconnect: answered once the socket is closed; the server sees
        # its end after everything sent.
        answer = channels.call(channel=channel, disconnect=api.Disconnect(), ref="bye")
        assert answer.WhichOneof("body") == "disconnect" and answer.disconnect.error == "" and answer.ref == "bye", answer
        server.thread.join(timeout=10)
        assert b"".join(server.received) == b"hello" + payload
        answer = channels.call(channel=channel, send=api.Send(buff=b"x"), ref="late")
        assert answer.error == "no socket is connected on this channel" and answer.ref == "late"
    finally:
        channels.close()
        server.close()


def test_the_far_end_closing_a_unix_socket_and_the_errors(http, api):
    folder = tempfile.mkdtemp(prefix="dbgproxy-")
    os.chmod(folder, 0o755)
    path = os.path.join(folder, "s")

    def greet(conn, server):
        conn.sendall(b"greetings")

    server = Server(greet, path=path)
    os.chmod(path, 0o777)
    channels, channel = connect(http, api)
    try:
        answer = channels.call(channel=channel, connect=api.Connect(proto="unix", addr=path), ref="u")
        assert answer.WhichOneof("body") == "ok", answer
        assert received_until(channels, channel, 9) == b"greetings"
        told = channels.receive()
        assert told.WhichOneof("body") == "disconnect" and told.disconnect.error == "" and told.channel == channel, told

        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        answer = channels.call(channel=channel, connect=api.Connect(proto="tcp", addr="127.0.0.1:%d" % port), ref="r")
        assert answer.ref == "r" and answer.error.lower() == "tcp:127.0.0.1:%d: connection refused" % port, answer
        answer = channels.call(channel=channel, connect=api.Connect(proto="udp", addr="127.0.0.1:53"), ref="p")
        assert answer.error == "connect: proto is tcp or unix, not 'udp'"
        answer = channels.call(channel=channel, connect=api.Connect(proto="tcp", addr="example.com:80"), ref="n")
        assert answer.error.startswith("connect: 'tcp:example.com:80'"), answer
        answer = channels.call(channel=channel, connect=api.Connect(proto="unix", addr=folder + "/none"), ref="m")
        assert "no such file" in answer.error.lower(), answer
        answer = channels.call(channel=channel, input="x", ref="i")
        assert answer.error == "a proxy channel takes connect, send, disconnect and ping"
    finally:
        channels.close()
        server.close()
        os.unlink(path)
        os.rmdir(folder)


def test_closing_the_channel_resets_the_socket(http, api):
    server = Server(collect)
    channels, channel = connect(http, api)
    try:
        assert channels.call(channel=channel, connect=api.Connect(addr=server.address)).WhichOneof("body") == "ok"
        channels.send(api.Command(channel=channel, send=api.Send(buff=b"partial")))
        time.sleep(0.2)
        answer = channels.call(closeChan=api.CloseChannel(id=channel, action=api.CloseChannel.CLOSE))
        assert answer.closeChanRes.status == api.CloseChannelRes.CLOSE
        server.thread.join(timeout=10)
        assert server.received == ["reset", b"partial"]
    finally:
        channels.close()
        server.close()


def test_a_logout_resets_the_socket_and_no_forwarding_refuses(http, api, agent, tmp_path):
    server = Server(collect)
    token = http.login()
    channels = Channels(http, api, token)
    try:
        channels.receive()
        channel = channels.call(openChan=api.OpenChannel(service="proxy")).openChanRes.id
        assert channels.call(channel=channel, connect=api.Connect(addr=server.address)).WhichOneof("body") == "ok"
        assert http.request("DELETE", "/api/v1/auth", token=token)[0] == 200
        server.thread.join(timeout=10)
        assert server.received == ["reset", b""]
    finally:
        channels.close()
        server.close()

    folder = tmp_path / "no-forwarding"
    folder.mkdir()
    agent.share_account(folder)
    running = Agent(folder, ["--http", "127.0.0.1:0", "--rpc-socket", "none", "--no-forwarding"], create_account=False)
    try:
        closed = HTTPAgent(running)
        channels, channel = connect(closed, api)
        answer = channels.call(channel=channel, connect=api.Connect(addr="127.0.0.1:9"), ref="off")
        assert answer.error == "forwarding is switched off on this board (dbgd --no-forwarding)" and answer.ref == "off"
        channels.close()
    finally:
        running.stop()
