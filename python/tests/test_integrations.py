"""The integrations run as their users run them: pytest with the plugin's fixture, and
labgrid (from PyPI, pinned by Scripts/setup) with an environment file through
`pytest --lg-env`."""

import os
import pathlib
import subprocess
import sys

import pytest

from conftest import PASSWORD

SOURCES = str(pathlib.Path(__file__).resolve().parents[1] / "src")


def _pytest(arguments, folder, environment):
    env = dict(os.environ, PYTHONPATH=SOURCES, **environment)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "dbgclient.pytest_plugin", "-p", "no:cacheprovider",
                           "-q"] + arguments, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_pytest_plugin_gives_a_logged_in_board(agent, tmp_path):
    (tmp_path / "test_board.py").write_text(
        "def test_uname(dbg):\n"
        "    assert dbg.run(['uname', '-s']).check().stdout == b'Linux\\n'\n"
        "def test_same_session(dbg):\n"
        "    dbg.write_bytes('plugin.txt', b'x')\n"
        "    assert dbg.read_bytes('plugin.txt') == b'x'\n")
    ran = _pytest(["--dbg-target", agent.address, "--dbg-user", agent.user], tmp_path, {"DBG_PASSWORD": PASSWORD})
    assert ran.returncode == 0 and "2 passed" in ran.stdout, ran.stdout + ran.stderr
    tls = _pytest(["--dbg-target", "tls://" + agent.address, "--dbg-user", agent.user, "--dbg-fingerprint",
                   agent.board_key], tmp_path, {"DBG_PASSWORD": PASSWORD})
    assert tls.returncode == 0 and "2 passed" in tls.stdout, tls.stdout + tls.stderr


def test_pytest_plugin_says_what_is_missing(agent, tmp_path):
    (tmp_path / "test_board.py").write_text("def test_needs_board(dbg):\n    pass\n")
    environment = {"DBG_PASSWORD": PASSWORD, "DBG_HOST": ""}
    no_target = _pytest([], tmp_path, environment)
    assert no_target.returncode != 0 and "needs --dbg-target" in no_target.stdout, no_target.stdout
    no_password = _pytest(["--dbg-target", agent.address], tmp_path, {"DBG_PASSWORD": ""})
    assert no_password.returncode != 0
    environment = dict(os.environ)
    environment.pop("DBG_PASSWORD", None)
    missing = subprocess.run([sys.executable, "-m", "pytest", "-p", "dbgclient.pytest_plugin", "-p", "no:cacheprovider",
                              "-q", "--dbg-target", agent.address], cwd=tmp_path, capture_output=True, text=True,
                             env=dict(environment, PYTHONPATH=SOURCES), timeout=120)
    assert missing.returncode != 0 and "DBG_PASSWORD" in missing.stdout, missing.stdout


LABGRID_TEST = """
import pytest
from labgrid.driver.exception import ExecutionError


def test_board(target, tmp_path):
    command = target.get_driver("CommandProtocol")
    target.activate(command)
    assert command.run_check("echo hello; echo to-stderr >&2") == ["hello"]
    assert command.run("echo out; exit 3") == (["out"], [], 3)
    with pytest.raises(ExecutionError):
        command.run_check("false")
    with pytest.raises(ExecutionError, match="cut"):
        command.run("head -c 200000 /dev/zero")
    assert command.poll_until_success("true", timeout=5.0)

    files = target.get_driver("FileTransferProtocol")
    source = tmp_path / "up.txt"
    source.write_text("through labgrid")
    files.put(str(source), "lg/")
    files.get("lg/up.txt", str(tmp_path))
    assert (tmp_path / "up.txt").read_text() == "through labgrid"
    with pytest.raises(ExecutionError, match="NotFound"):
        files.get("lg/missing.txt", str(tmp_path))
"""


def _labgrid(folder, resources: str, driver: str, test: str):
    pytest.importorskip("labgrid")
    (folder / "env.yaml").write_text("imports:\n  - dbgclient.labgrid\ntargets:\n  main:\n    resources:\n%s"
                                     "    drivers:\n      DbgDriver: %s\n" % (resources, driver))
    (folder / "test_lg.py").write_text(test)
    env = dict(os.environ, PYTHONPATH=SOURCES, DBG_PASSWORD=PASSWORD)
    ran = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--lg-env", "env.yaml",
                          "test_lg.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout + ran.stderr


def test_labgrid_environment_with_dbg_driver(agent, tmp_path):
    _labgrid(tmp_path, "      DbgService:\n        address: '%s'\n        username: '%s'\n" % (agent.address, agent.user),
             "{}", LABGRID_TEST)


def test_labgrid_over_a_serial_port(serial_agent, agent, tmp_path):
    _, target, _ = serial_agent()
    device, baud = target[len("serial:"):].split(",")
    _labgrid(tmp_path, "      RawSerialPort:\n        port: '%s'\n        speed: %s\n" % (device, baud),
             "{username: '%s'}" % agent.user,
             "def test_board(target):\n"
             "    command = target.get_driver('CommandProtocol')\n"
             "    target.activate(command)\n"
             "    assert command.run_check('echo over the serial line') == ['over the serial line']\n")
