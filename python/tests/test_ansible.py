"""The Ansible connection plugin (ansible-core from PyPI, pinned by Scripts/setup), as
Ansible runs it: a playbook against the test agent, through dbg.board.dbg."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from conftest import PASSWORD

PYTHON = pathlib.Path(__file__).resolve().parents[1]

PLAYBOOK = """
- hosts: board
  gather_facts: true
  tasks:
    - name: raw
      raw: echo raw-ok
      register: raw
    - assert: {that: ["'raw-ok' in raw.stdout"]}
    - name: command
      command: uname -s
      register: uname
    - assert: {that: ["uname.stdout == 'Linux'"]}
    - name: shell with a pipe
      shell: "printf 'a\\\\nb\\\\n' | wc -l"
      register: lines
    - assert: {that: ["lines.stdout | trim == '2'"]}
    - name: a directory whose name has a space and unicode
      file: {path: "{{ ansible_env.HOME }}/dír with space", state: directory, mode: "0755"}
    - name: copy into it
      copy:
        content: "héllo wörld\\n"
        dest: "{{ ansible_env.HOME }}/dír with space/fïle.txt"
        mode: "0640"
    - name: stat
      stat: {path: "{{ ansible_env.HOME }}/dír with space/fïle.txt"}
      register: st
    - assert: {that: ["st.stat.exists", "st.stat.mode == '0640'", "st.stat.size == 14"]}
    - name: template
      template: {src: "greeting.j2", dest: "{{ ansible_env.HOME }}/greeting.txt"}
    - name: fetch
      fetch: {src: "{{ ansible_env.HOME }}/dír with space/fïle.txt", dest: "{{ fetched }}/", flat: true}
    - name: output far beyond RunCommand's limit (streamed; refused, saying why, by an agent without streams)
      shell: head -c 1000000 /dev/zero | tr '\\\\0' x
      register: big
      ignore_errors: "{{ not streams }}"
    - assert: {that: ["big.stdout | length == 1000000"]}
      when: streams
    - assert: {that: ["big is failed", "'--max-output' in big.msg"]}
      when: not streams
    - name: a failing command
      command: "false"
      register: failed
      ignore_errors: true
    - assert: {that: ["failed.rc == 1", "failed is failed"]}
"""


def test_a_playbook_through_the_dbg_connection(agent, tmp_path):
    playbook_tool = shutil.which("ansible-playbook", path=os.path.dirname(sys.executable))
    if playbook_tool is None:
        pytest.skip("ansible-core is not installed next to this Python (Scripts/setup installs it)")
    host, port = agent.address.rsplit(":", 1)
    (tmp_path / "inventory").write_text(
        "board ansible_host=%s ansible_dbg_port=%s ansible_user=%s ansible_password=%s "
        "ansible_connection=dbg.board.dbg ansible_python_interpreter=/usr/bin/python3\n"
        % (host, port, agent.user, PASSWORD))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "greeting.j2").write_text("hello {{ ansible_facts['system'] }}\n")
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PYTHON), PYTHONPATH=str(PYTHON / "src"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_DEPRECATION_WARNINGS="0", HOME=str(tmp_path))
    # Without streaming processes (the minimal profile) the plugin runs commands captured,
    # and pipelined modules' stdin goes to the board as a file.
    streams = "streams" in agent.features
    extra = json.dumps({"fetched": str(fetched), "streams": streams})
    ran = subprocess.run([playbook_tool, "-i", "inventory", "play.yml", "-e", extra] + ([] if streams else ["-vvv"]),
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "failed=0" in ran.stdout
    assert streams or "commands run captured" in ran.stdout, ran.stdout[-3000:]
    assert (fetched / "fïle.txt").read_text() == "héllo wörld\n"
    assert (agent.home / "greeting.txt").read_text() == "hello Linux\n"


FAKE_SUDO = """#!/bin/sh
# Stands in for sudo -S -p PROMPT -u USER COMMAND... (this machine has no sudo): the
# prompt on stderr, the password from stdin, then the command, as the same user.
prompt=""
while [ $# -gt 0 ]; do
    case "$1" in
        -p) prompt=$2; shift 2 ;;
        -u) shift 2 ;;
        -*) shift ;;
        *) break ;;
    esac
done
printf '%s' "$prompt" >&2
read -r password
[ "$password" = "s3cret" ] || { echo "Sorry, try again." >&2; exit 1; }
exec "$@"
"""

BECOME_PLAYBOOK = """
- hosts: board
  gather_facts: false
  become: true
  become_method: sudo
  tasks:
    - command: id -u
      register: who
    - assert: {that: ["who.stdout == '0'"]}
    - copy: {content: "as root\\n", dest: "{{ target }}"}
"""


def test_become_with_a_password_through_stdin(agent, tmp_path):
    playbook_tool = shutil.which("ansible-playbook", path=os.path.dirname(sys.executable))
    if playbook_tool is None:
        pytest.skip("ansible-core is not installed next to this Python (Scripts/setup installs it)")
    sudo = tmp_path / "fake-sudo"
    sudo.write_text(FAKE_SUDO)
    sudo.chmod(0o755)
    host, port = agent.address.rsplit(":", 1)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(PYTHON), PYTHONPATH=str(PYTHON / "src"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"), ANSIBLE_NOCOLOR="1", HOME=str(tmp_path))
    (tmp_path / "play.yml").write_text(BECOME_PLAYBOOK)
    if "streams" not in agent.features:
        # The prompt is answered through a streaming process: refused, saying so.
        (tmp_path / "inventory").write_text(
            "board ansible_host=%s ansible_dbg_port=%s ansible_user=%s ansible_password=%s "
            "ansible_connection=dbg.board.dbg ansible_python_interpreter=/usr/bin/python3 "
            "ansible_become_password=s3cret ansible_become_exe=%s\n" % (host, port, agent.user, PASSWORD, sudo))
        ran = subprocess.run([playbook_tool, "-i", "inventory", "play.yml", "-e", "target=%s" % (tmp_path / "t")],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert ran.returncode != 0 and "DBG_STREAMS=OFF" in ran.stdout + ran.stderr, ran.stdout[-3000:]
        return
    for password, ok in (("s3cret", True), ("wrong", False)):
        (tmp_path / "inventory").write_text(
            "board ansible_host=%s ansible_dbg_port=%s ansible_user=%s ansible_password=%s "
            "ansible_connection=dbg.board.dbg ansible_python_interpreter=/usr/bin/python3 "
            "ansible_become_password=%s ansible_become_exe=%s\n" % (host, port, agent.user, PASSWORD, password, sudo))
        target = tmp_path / ("become-%s.txt" % password)
        ran = subprocess.run([playbook_tool, "-i", "inventory", "play.yml", "-e", "target=%s" % target],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        if ok:
            assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
            assert target.read_text() == "as root\n"
        else:
            assert ran.returncode != 0 and not target.exists()
            assert "Sorry, try again" in ran.stdout + ran.stderr, ran.stdout[-3000:]  # what sudo said
