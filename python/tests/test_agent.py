"""dbgclient against a running dbgd (see conftest): commands, files, errors."""

import hashlib
import os

import pytest

import dbgclient
from conftest import PASSWORD, ROOT


def test_run_and_sh_are_shaped_like_subprocess(board):
    result = board.run(["printf", "%s|", "a b", "it's", "$HOME"])
    assert result.exit_code == 0 and result.returncode == 0
    assert result.stdout == b"a b|it's|$HOME|"
    shell = board.sh("echo out; echo err >&2; exit 3")
    assert (shell.exit_code, shell.stdout, shell.stderr) == (3, b"out\n", b"err\n")
    with pytest.raises(dbgclient.CommandError) as failed:
        shell.check()
    assert failed.value.result.exit_code == 3
    assert board.run("true").check().exit_code == 0


def test_truncated_output_is_flagged_and_check_raises(board):
    result = board.sh("head -c 200000 /dev/zero")
    assert result.stdout_truncated and len(result.stdout) < 200000
    with pytest.raises(dbgclient.TruncatedOutput):
        result.check()


def test_a_missing_program_is_not_found(board):
    with pytest.raises(dbgclient.NotFound) as missing:
        board.run(["no-such-program-here"])
    assert "command not found" in missing.value.message


def test_files_one_request_each(board, agent):
    board.mkdir("d/e", parents=True)
    board.write_bytes("d/e/f.txt", b"hello", mode=0o600)
    info = board.stat("d/e/f.txt")
    assert (info.type, info.mode, info.size) == ("file", 0o600, 5)
    assert board.read_bytes("d/e/f.txt") == b"hello"
    assert board.sha256("d/e/f.txt") == hashlib.sha256(b"hello").hexdigest()
    board.rename("d/e/f.txt", "d/g.txt")
    assert sorted(entry.name for entry in board.listdir("d")) == ["e", "g.txt"]
    assert board.exists("d/g.txt") and not board.exists("d/e/f.txt")
    with pytest.raises(dbgclient.Exists):
        board.mkdir("d")
    board.remove("d", recursive=True)
    assert not (agent.home / "d").exists()


def test_a_failed_window_leaves_the_connection_in_step(board):
    with pytest.raises(dbgclient.NotFound):
        board.read_bytes("missing.bin")
    board.write_bytes("after.bin", b"x" * 3_000_000)
    assert board.read_bytes("after.bin") == b"x" * 3_000_000


def test_put_and_get_whole_files_and_trees(board, agent, tmp_path):
    data = os.urandom(5_000_000 + 17)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    seen = []
    assert board.put(str(local), "big.bin", progress=seen.append, verify=True) == len(data)
    assert seen[-1] == len(data)
    assert (agent.home / "big.bin").read_bytes() == data
    assert not [name for name in os.listdir(agent.home) if ".dbg-" in name]
    back = tmp_path / "back.bin"
    assert board.get("big.bin", str(back), verify=True) == len(data)
    assert back.read_bytes() == data

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"a")
    (tree / "sub" / "b.txt").write_bytes(b"")
    board.put(str(tree), "tree")
    copy = tmp_path / "copy"
    board.get("tree", str(copy))
    assert (copy / "a.txt").read_bytes() == b"a" and (copy / "sub" / "b.txt").read_bytes() == b""


def test_errors_carry_code_errno_and_message(board):
    with pytest.raises(dbgclient.NotFound) as missing:
        board.stat("/no/such/path")
    assert missing.value.code == 4 and missing.value.errno == 2


def test_unix_socket_and_wrong_password(agent):
    with dbgclient.connect("unix:%s" % agent.socket, user=agent.user, password=PASSWORD) as board:
        assert board.run(["id", "-u"]).stdout.strip() == str(os.getuid()).encode()
        assert board.connection.ping(b"\x00\x01") == b"\x00\x01"
    with pytest.raises(dbgclient.Denied):
        dbgclient.connect(agent.address, user=agent.user, password="wrong")


def test_tls_with_the_board_key_pinned_or_recorded(agent, tmp_path):
    assert agent.board_key, "the agent logs its board key"
    target = "tls://" + agent.address
    with dbgclient.connect(target, user=agent.user, password=PASSWORD, fingerprint=agent.board_key) as board:
        assert board.run(["echo", "over tls"]).stdout == b"over tls\n"
        data = os.urandom(3_000_000)
        board.write_bytes("tls.bin", data)
        assert board.read_bytes("tls.bin") == data
    with pytest.raises(dbgclient.UntrustedBoard, match="not the SHA256:x expected"):
        dbgclient.connect(target, user=agent.user, password=PASSWORD, fingerprint="SHA256:x")

    known = str(tmp_path / "dbg" / "known_agents")
    with pytest.raises(dbgclient.UntrustedBoard, match="is not in"):
        dbgclient.connect(target, user=agent.user, password=PASSWORD, known_agents=known)
    dbgclient.connect(target, user=agent.user, password=PASSWORD, known_agents=known, accept_new=True).close()
    assert open(known).read() == "%s %s\n" % (agent.address, agent.board_key)
    assert oct(os.stat(known).st_mode & 0o777) == "0o600"
    dbgclient.connect(target, user=agent.user, password=PASSWORD, known_agents=known).close()
    with open(known, "w") as changed:
        changed.write("%s SHA256:someotherkey\n" % agent.address)
    with pytest.raises(dbgclient.UntrustedBoard, match="HAS CHANGED"):
        dbgclient.connect(target, user=agent.user, password=PASSWORD, known_agents=known, accept_new=True)


def test_tls_to_a_cleartext_port_fails_clearly(agent):
    with pytest.raises(dbgclient.ConnectError, match="TLS handshake"):
        dbgclient.connect("tls://127.0.0.1:%d" % _plain_server(), user="x", password="y", fingerprint="SHA256:x")


def _plain_server() -> int:
    """A listener that answers anything with a few bytes and closes: no TLS there."""
    import socket
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        peer, _ = server.accept()
        peer.sendall(b"not tls\n")
        peer.close()
        server.close()
    threading.Thread(target=answer, daemon=True).start()
    return server.getsockname()[1]


def test_a_peer_that_hangs_up_is_a_transport_error():
    with pytest.raises(dbgclient.TransportError):  # closed or reset, said as such
        dbgclient.connect("127.0.0.1:%d" % _plain_server(), user="x", password="y")


def test_what_cannot_be_reached_fails_loudly(agent):
    with pytest.raises(dbgclient.ConnectError, match="cannot open serial:/dev/no-such-tty"):
        dbgclient.connect("serial:/dev/no-such-tty", user=agent.user, password=PASSWORD)
    with pytest.raises(dbgclient.ConnectError, match="key login"):
        dbgclient.connect(agent.address, user=agent.user, key="client.key")
    with pytest.raises(dbgclient.ConnectError, match="cannot connect"):
        dbgclient.connect("127.0.0.1:1", user=agent.user, password=PASSWORD)


def test_an_interactive_shell(board):
    import select
    with board.shell(rows=30, cols=100) as shell:
        shell.write(b"stty size; echo marker-$((6*7))\n")
        seen = b""
        while b"marker-42" not in seen:
            seen += shell.read(timeout=10)
        assert b"30 100" in seen
        shell.resize(40, 120)
        shell.write(b"stty size\n")
        while b"40 120" not in seen:
            seen += shell.read(timeout=10)
        while shell.pending:
            seen += shell.read()
        shell.write(b"echo selectable\n")
        assert select.select([shell], [], [], 10)[0] == [shell], "the socket becomes readable with the output"
        while b"selectable\r\n" not in seen.split(b"echo selectable")[-1]:
            seen += shell.read(timeout=10)
        shell.write(b"exit 5\n")
        assert shell.wait(timeout=10) == 5
        assert shell.read() == b""


def test_a_streaming_process(board):
    data = os.urandom(3_000_000)  # far beyond the agent's input window and output limit
    with board.popen(["sh", "-c", "cat; echo done >&2"]) as process:
        stdout, stderr = process.communicate(data, timeout=60)
    assert stdout == data and stderr == b"done\n" and process.returncode == 0
    env = board.popen("echo $GREETING; exit 4", env={"GREETING": "hi"})
    assert env.communicate(timeout=10) == (b"hi\n", b"") and env.returncode == 4


def test_a_process_can_be_signalled_and_read_as_it_goes(board):
    process = board.popen(["sh", "-c", "echo started; exec sleep 30"])
    assert process.read_stdout(timeout=10) == b"started\n"
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=10) == 143 and process.signal == 15
    with pytest.raises(dbgclient.NotFound):
        board.popen(["no-such-program-here"])


def test_the_asyncio_api(agent, tmp_path):
    import asyncio
    from dbgclient import aio

    async def scenario():
        async with await aio.connect(agent.address, user=agent.user, password=PASSWORD) as board:
            # Many requests from many coroutines on one connection, answered by id.
            results = await asyncio.gather(*(board.run(["echo", str(n)]) for n in range(12)))  # --max-exec is 16
            assert [r.stdout for r in results] == [b"%d\n" % n for n in range(12)]
            data = os.urandom(2_000_000)
            await board.write_bytes("aio.bin", data)
            assert await board.read_bytes("aio.bin") == data
            local = tmp_path / "up.bin"
            local.write_bytes(data[:300_000])
            await board.put(str(local), "aio-put.bin")
            await board.get("aio-put.bin", str(tmp_path / "down.bin"), verify=True)
            assert (tmp_path / "down.bin").read_bytes() == data[:300_000]
            assert (await board.stat("aio.bin")).size == len(data)
            with pytest.raises(dbgclient.NotFound):
                await board.read_bytes("missing.bin")
            assert (await board.sh("echo still in step")).stdout == b"still in step\n"
        async with await aio.connect("tls://" + agent.address, user=agent.user, password=PASSWORD,
                                     fingerprint=agent.board_key) as board:
            assert (await board.run("true")).exit_code == 0
        with pytest.raises(dbgclient.UntrustedBoard):
            await aio.connect("tls://" + agent.address, user=agent.user, password=PASSWORD, fingerprint="SHA256:no")

    asyncio.run(scenario())


def test_the_distro_service(board, agent, tmp_path):
    import tarfile
    busybox = "/bin/busybox"
    if not os.access(busybox, os.X_OK):
        pytest.skip("no /bin/busybox (Scripts/setup installs busybox-static)")
    archive = tmp_path / "rootfs.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(busybox, "bin/busybox")
        for tool in ("sh", "cat", "uname", "echo", "hostname"):
            link = tarfile.TarInfo("bin/" + tool)
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    distro = board.distro
    assert not distro.status().installed
    distro.install(str(archive))
    status = distro.status()
    assert status.installed and status.size > 1_000_000
    with pytest.raises(dbgclient.Exists):
        distro.install(str(archive))
    ran = distro.run("cat", input=b"through stdin", env={"A": "1"})
    assert (ran.exit_code, ran.stdout) == (0, b"through stdin") and not ran.truncated
    assert distro.run("hostname").check().stdout == b"distro\n"
    with distro.popen("sh -c 'cat; echo $GREETING >&2'", env={"GREETING": "hi"}) as process:
        assert process.communicate(b"x" * 500_000, timeout=30) == (b"x" * 500_000, b"hi\n")
    with distro.shell(rows=20, cols=70) as shell:
        shell.write(b"echo inside-$((2+3)); exit 4\n")
        seen = b""
        while True:
            data = shell.read(timeout=10)
            if not data:
                break
            seen += data
        assert b"inside-5" in seen and shell.exit_status == 4
    distro.remove()
    assert not distro.status().installed


def test_key_login_over_tls(agent, tmp_path):
    import subprocess
    pytest.importorskip("cryptography")
    dbg = ROOT / ".build" / "debug" / "dbg"  # its key and fingerprint: made by dbg itself
    if not os.access(dbg, os.X_OK):
        pytest.skip("no dbg at %s (swift build)" % dbg)
    key = tmp_path / "client.key"
    environment = dict(os.environ, DBG_KEY=str(key))
    subprocess.run([str(dbg), "keygen"], env=environment, check=True, capture_output=True)
    fingerprint = subprocess.run([str(dbg), "keygen", "--show"], env=environment, check=True, capture_output=True,
                                 text=True).stdout.strip()
    target = "tls://" + agent.address
    # Not listed yet: the password follows; without one, the key alone is refused.
    with dbgclient.connect(target, user=agent.user, password=PASSWORD, key=str(key),
                           fingerprint=agent.board_key) as board:
        assert board.run("true").exit_code == 0
    with pytest.raises(dbgclient.Denied):
        dbgclient.connect(target, user=agent.user, key=str(key), fingerprint=agent.board_key)
    (agent.folder / "keys" / agent.user).write_text(fingerprint + " python test\n")
    with dbgclient.connect(target, user=agent.user, key=str(key), fingerprint=agent.board_key) as board:
        assert board.run(["id", "-u"]).stdout.strip() == str(os.getuid()).encode()
    os.chmod(key, 0o644)
    with pytest.raises(dbgclient.ConnectError, match="only you can read"):
        dbgclient.connect(target, user=agent.user, key=str(key), fingerprint=agent.board_key)
    with pytest.raises(dbgclient.ConnectError, match="needs TLS"):
        dbgclient.connect(agent.address, user=agent.user, key=str(key))
    (agent.folder / "keys" / agent.user).unlink()


def test_the_application_runtime(agent, tmp_path):
    from conftest import Agent
    from dbgclient.app import AppError
    app_dir = tmp_path / "app"
    (app_dir / "actions" / "greet").mkdir(parents=True)
    (app_dir / "backup").mkdir()
    (app_dir / "main").write_text("#!/bin/sh\necho main started\nexec sleep 300\n")
    (app_dir / "actions" / "greet" / "run").write_text(
        "#!/bin/sh\nread input\necho \"{\\\"greeting\\\": \\\"hello\\\", \\\"input\\\": $input}\"\n")
    (app_dir / "actions" / "greet" / "input.json").write_text('{"name": "string"}')
    (app_dir / "actions" / "fail").mkdir()
    (app_dir / "actions" / "fail" / "run").write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    (app_dir / "backup" / "paths").write_text("main\n")
    for script in ("main", "actions/greet/run", "actions/fail/run"):
        os.chmod(app_dir / script, 0o755)
    folder = tmp_path / "agent"
    folder.mkdir()
    agent.share_account(folder)
    running = Agent(folder, ["--app-dir", str(app_dir), "--rpc-socket", str(folder / "rpc.sock"),
                             "--backup-dir", str(folder / "backups")], create_account=False)
    try:
        with dbgclient.connect(running.address, user=agent.user, password=PASSWORD) as board:
            app = board.app
            assert [action["name"] for action in app.actions()] == ["fail", "greet"]
            assert app.action_input("greet") == {"name": "string"}
            assert app.run_action("greet", {"name": "lab"}) == {"greeting": "hello", "input": {"name": "lab"}}
            with pytest.raises(AppError) as failed:
                app.run_action("fail")
            assert failed.value.code == -32001 and failed.value.data["exitCode"] == 3
            app.start()
            assert app.status()["state"] == "running"
            backup = app.create_backup()
            assert backup["size"] > 0 and len(backup["sha256"]) == 64
            assert app.eval("echo evaluated")["stdout"] == "evaluated\n"
            app.stop()
            assert app.status()["state"] == "stopped"
            with pytest.raises(AppError) as unknown:
                app.call("no-such-method")
            assert unknown.value.code == -32601
    finally:
        running.stop()


def test_a_process_has_file_objects_like_popen(board):
    process = board.popen(["sh", "-c", "while read line; do echo \"got $line\"; done; echo bye >&2; exit 2"])
    process.stdin.write(b"one\ntwo\n")
    process.stdin.flush()
    assert process.stdout.readline() == b"got one\n"
    process.stdin.write(b"three\n")
    process.stdin.close()
    assert list(process.stdout) == [b"got two\n", b"got three\n"]
    assert process.stderr.read() == b"bye\n"
    assert process.wait(timeout=10) == 2
