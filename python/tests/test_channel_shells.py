"""The shell service of the channel protocol (seed 004): the user's login shell on a PTY,
named shells that several channels (of several connections) attach to, and what each
closeChan action leaves of a shell. The Commands are protoc's classes, the WebSocket the
PyPI `websockets` client (see test_channels.py)."""

import os
import pathlib
import re
import subprocess
import tempfile
import time

import pytest

from conftest import PASSWORD, Agent
from test_channels import Channels, api, http  # noqa: F401 (fixtures)
from test_http import HTTPAgent

websockets = pytest.importorskip("websockets")


def ask(channels, **fields):
    """Channels.call, skipping the shells' output that comes meanwhile."""
    answer = channels.call(**fields)
    while answer.WhichOneof("body") == "output":
        answer = channels.receive()
    return answer


def open_shell(channels, api, name="", action=None, ref="open"):
    """openChan for a shell; returns the answer's OpenChannelRes."""
    request = api.OpenChannel(service="shell", name=name)
    if action is not None:
        request.action = action
    answer = ask(channels, openChan=request, ref=ref)
    assert answer.WhichOneof("body") == "openChanRes" and answer.ref == ref, answer
    return answer.openChanRes


def read_until(channels, channel, needle, timeout=10):
    """The output of `channel` up to and including `needle`; anything but output on
    that channel fails, except messages of other channels, which are skipped."""
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, "no %r in %r" % (needle, seen)
        message = channels.receive(timeout=left)
        if message.channel != channel:
            continue
        assert message.WhichOneof("body") == "output", (message, seen)
        seen += message.output
    return seen


def until_stopped(channels, channel, timeout=10):
    """The output of `channel` until its state Stopped."""
    seen = ""
    deadline = time.monotonic() + timeout
    while True:
        message = channels.receive(timeout=max(0.1, deadline - time.monotonic()))
        if message.channel != channel:
            continue
        if message.WhichOneof("body") == "state":
            assert message.state == channels.api.Stopped, message
            return seen
        assert message.WhichOneof("body") == "output", message
        seen += message.output


def type_line(channels, channel, line):
    channels.send(channels.api.Command(channel=channel, input=line + "\n"))


def shell_pid(channels, channel):
    """The shell's own pid (echo $$)."""
    type_line(channels, channel, "echo pid=$$=")
    seen = ""
    for _ in range(10):
        seen += read_until(channels, channel, "\n")
        found = re.search(r"pid=(\d+)=", seen)
        if found:
            return int(found.group(1))
    pytest.fail("no pid in %r" % seen)


def connect(http, api):
    channels = Channels(http, api, http.login())
    assert channels.receive().WhichOneof("body") == "containerState"
    return channels


def test_a_shell_with_input_resize_pipe_mode_and_exit(http, api):
    channels = connect(http, api)
    try:
        opened = open_shell(channels, api, ref="sh")
        assert opened.state == api.OpenChannelRes.CREATED and opened.id > 0, opened
        shell = opened.id
        type_line(channels, shell, "echo answer-$((6*7)) $HOME; tty")
        home = (http.agent.folder / "passwd").read_text().split(":")[5]
        seen = read_until(channels, shell, "/dev/pts/")
        assert "answer-42 %s\r\n" % home in seen  # a terminal: NL goes out as CR NL

        channels.send(api.Command(channel=shell, resizeTerm=api.ResizeTerm(rows=40, cols=100)))
        type_line(channels, shell, "stty size")
        assert "40 100\r\n" in read_until(channels, shell, "40 100\r\n")
        answer = ask(channels, channel=shell, resizeTerm=api.ResizeTerm(rows=20000, cols=80), ref="big")
        assert answer.error == "Rows: must be from 0 to 10000, not 20000" and answer.ref == "big", answer

        # pipeMode: stty raw icrnl isig -echo. What is typed is not echoed, and output
        # is as the program wrote it (no CR added).
        channels.send(api.Command(channel=shell, PTYConfig=api.PTYConfig(pipeMode=True)))
        type_line(channels, shell, "stty -a | tr ' ' '\\n' | grep -x -e -echo -e -opost -e icrnl -e isig | sort | tr '\\n' ,; echo")
        seen = read_until(channels, shell, "isig,")
        assert "-echo,-opost,icrnl,isig," in seen and "stty" not in seen, seen
        type_line(channels, shell, "printf 'a\\nb\\n'")
        assert "a\nb\n" in read_until(channels, shell, "b\n")

        channels.send(api.Command(channel=shell, saneTerm=api.SaneTerm()))
        type_line(channels, shell, "echo sane-$((2+2))")
        seen = read_until(channels, shell, "sane-4\r\n")
        assert "echo sane-$((2+2))" in seen  # echoed again

        type_line(channels, shell, "exit 5")
        until_stopped(channels, shell)
        answer = ask(channels, channel=shell, input="ls\n", ref="late")
        assert answer.error == "the shell of this channel has ended: open a new shell channel" and answer.ref == "late"
        answer = ask(channels, closeChan=api.CloseChannel(id=shell, action=api.CloseChannel.CLOSE), ref="c")
        assert answer.closeChanRes.status == api.CloseChannelRes.CLOSE and answer.closeChanRes.id == shell

        # The production name, and the bodies a shell channel does not take.
        opened = open_shell(channels, api)
        assert opened.state == api.OpenChannelRes.CREATED
        request = api.Command(channel=opened.id, ref="x")
        request.exec.args.append("true")
        channels.send(request)
        answer = channels.receive()
        assert answer.error == "a shell channel takes input, resizeTerm, PTYConfig, saneTerm and ping" and answer.ref == "x"
        answer = ask(channels, openChan=api.OpenChannel(service="shellrun2"), ref="prod")
        assert answer.openChanRes.state == api.OpenChannelRes.CREATED, answer
    finally:
        channels.close()


def test_two_clients_share_a_named_shell(http, api):
    first, second = connect(http, api), connect(http, api)
    third = None
    try:
        opened = open_shell(first, api, name="lab", action=api.OpenChannel.ATTACH_OR_CREATE)
        assert opened.state == api.OpenChannelRes.CREATED
        mine = opened.id
        joined = open_shell(second, api, name="lab", action=api.OpenChannel.ATTACH)
        assert joined.state == api.OpenChannelRes.ATTACHED, joined
        theirs = joined.id

        type_line(first, mine, "echo shared-$((3*3))")
        assert "shared-9" in read_until(first, mine, "shared-9")
        assert "shared-9" in read_until(second, theirs, "shared-9")
        type_line(second, theirs, "echo from-b-$((1+1))")
        assert "from-b-2" in read_until(first, mine, "from-b-2")
        assert "from-b-2" in read_until(second, theirs, "from-b-2")

        refused = open_shell(second, api, name="lab", action=api.OpenChannel.CREATE)
        assert refused.state == api.OpenChannelRes.ERROR and "runs already" in refused.error, refused
        refused = open_shell(second, api, name="nosuch", action=api.OpenChannel.ATTACH)
        assert refused.error == "no shell with this name runs for this user"
        refused = open_shell(second, api, action=api.OpenChannel.ATTACH)
        assert refused.error == "ATTACH needs the name of a shell"
        refused = open_shell(second, api, name="x" * 129)
        assert refused.error == "a shell's name is at most 128 bytes"
        answer = ask(second, openChan=api.OpenChannel(service="shell", name="odd", action=7), ref="a7")
        assert answer.openChanRes.error == "openChan: action 7 is not CREATE, ATTACH or ATTACH_OR_CREATE"
        answer = ask(second, closeChan=api.CloseChannel(id=theirs, action=9), ref="c9")
        assert answer.error == "closeChan: action 9 is not DISCONNECT, TRY_CLOSE or CLOSE"

        # TRY_CLOSE while another channel is attached: nothing happens.
        answer = ask(second, closeChan=api.CloseChannel(id=theirs, action=api.CloseChannel.TRY_CLOSE))
        assert answer.closeChanRes.status == api.CloseChannelRes.NOTHING
        # CLOSE while another is attached: this channel goes, the shell stays.
        answer = ask(first, closeChan=api.CloseChannel(id=mine, action=api.CloseChannel.CLOSE))
        assert answer.closeChanRes.status == api.CloseChannelRes.DISCONNECT
        type_line(second, theirs, "echo still-$((4+4))")
        assert "still-8" in read_until(second, theirs, "still-8")

        # The last channel goes with the connection: the shell runs on, unread; what it
        # writes meanwhile waits for the next channel to attach.
        type_line(second, theirs, "sleep 0.5; echo later-$((5*5))")
        second.close()
        time.sleep(1.5)
        third = connect(http, api)
        joined = open_shell(third, api, name="lab", action=api.OpenChannel.ATTACH_OR_CREATE)
        assert joined.state == api.OpenChannelRes.ATTACHED, joined
        assert "later-25" in read_until(third, joined.id, "later-25")

        # The last CLOSE ends it; its name is free at once.
        pid = shell_pid(third, joined.id)
        answer = ask(third, closeChan=api.CloseChannel(id=joined.id, action=api.CloseChannel.CLOSE))
        assert answer.closeChanRes.status == api.CloseChannelRes.CLOSE
        assert open_shell(third, api, name="lab", action=api.OpenChannel.ATTACH).state == api.OpenChannelRes.ERROR
        wait_gone(pid)
    finally:
        for channels in (first, second, third):
            if channels:
                channels.close()


def wait_gone(pid, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("process %d still runs" % pid)


def test_an_exit_reaches_every_channel_and_an_unnamed_shell_ends_with_its_connection(http, api):
    first, second = connect(http, api), connect(http, api)
    try:
        mine = open_shell(first, api, name="exits", action=api.OpenChannel.CREATE).id
        theirs = open_shell(second, api, name="exits", action=api.OpenChannel.ATTACH).id
        type_line(first, mine, "echo bye; exit 3")
        assert "bye" in until_stopped(first, mine)
        assert "bye" in until_stopped(second, theirs)
        assert open_shell(first, api, name="exits", action=api.OpenChannel.ATTACH).state == api.OpenChannelRes.ERROR

        # DISCONNECT of a shell without a name closes it: nobody could attach again.
        own = open_shell(first, api).id
        pid = shell_pid(first, own)
        answer = ask(first, closeChan=api.CloseChannel(id=own, action=api.CloseChannel.DISCONNECT))
        assert answer.closeChanRes.status == api.CloseChannelRes.CLOSE
        wait_gone(pid)

        own = open_shell(second, api).id
        pid = shell_pid(second, own)
    finally:
        first.close()
        second.close()
    wait_gone(pid)


def test_a_logout_closes_its_channel_connections_and_named_shells_run_on(http, api):
    token = http.login()
    first = Channels(http, api, token)
    second = connect(http, api)
    try:
        first.receive()
        mine = open_shell(first, api, name="survivor").id
        theirs = open_shell(second, api, name="survivor", action=api.OpenChannel.ATTACH).id
        pid = shell_pid(first, mine)
        read_until(second, theirs, "pid=%d=" % pid)
        assert http.request("DELETE", "/api/v1/auth", token=token)[0] == 200
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                first.receive()
        assert closed.value.rcvd.code == 1008
        type_line(second, theirs, "echo alive-$((7*6))")
        assert "alive-42" in read_until(second, theirs, "alive-42")
        answer = ask(second, closeChan=api.CloseChannel(id=theirs, action=api.CloseChannel.CLOSE))
        assert answer.closeChanRes.status == api.CloseChannelRes.CLOSE
        wait_gone(pid)
    finally:
        first.close()
        second.close()


def test_shells_are_the_users_and_limited_by_max_shells(api, tmp_path):
    """Another user's shell of the same name is another shell (the tests as root: uid
    65534 beside the account); --max-shells bounds them all."""
    folder = tmp_path / "shells-agent"
    folder.mkdir()
    homes = [pathlib.Path(tempfile.mkdtemp(prefix="dbgshells-")) for _ in range(2)]
    other = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
    os.chown(homes[1], *other)
    hashed = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True, capture_output=True, text=True).stdout.strip()
    (folder / "passwd").write_text("root:x:0:0::/root:/bin/sh\nalice:x:%d:%d::%s:/bin/sh\nbob:x:%d:%d::%s:/bin/sh\n"
                                   % (os.getuid(), os.getgid(), homes[0], other[0], other[1], homes[1]))
    (folder / "shadow").write_text("alice:%s:19000:0:99999:7:::\nbob:%s:19000:0:99999:7:::\n" % (hashed, hashed))
    (folder / "group").write_text("")
    running = Agent(folder, ["--http", "127.0.0.1:0", "--rpc-socket", "none", "--max-shells", "2"], create_account=False)
    http = HTTPAgent(running)
    sessions = []
    try:
        running.user = "alice"
        alice = connect(http, api)
        sessions.append(alice)
        assert open_shell(alice, api, name="console").state == api.OpenChannelRes.CREATED
        if os.getuid() == 0:
            running.user = "bob"
            bob = connect(http, api)
            sessions.append(bob)
            # alice's "console" is not bob's: ATTACH finds none, CREATE makes his own.
            assert open_shell(bob, api, name="console", action=api.OpenChannel.ATTACH).state == api.OpenChannelRes.ERROR
            opened = open_shell(bob, api, name="console", action=api.OpenChannel.ATTACH_OR_CREATE)
            assert opened.state == api.OpenChannelRes.CREATED
            type_line(bob, opened.id, "id -u")
            assert "65534\r\n" in read_until(bob, opened.id, "65534\r\n")
        else:
            assert open_shell(alice, api, name="second").state == api.OpenChannelRes.CREATED
        refused = open_shell(alice, api, name="third")
        assert refused.state == api.OpenChannelRes.ERROR and refused.error == "all 2 shells are in use", refused
    finally:
        for channels in sessions:
            channels.close()
        running.stop()
        for home in homes:
            subprocess.run(["rm", "-rf", str(home)], check=False)
