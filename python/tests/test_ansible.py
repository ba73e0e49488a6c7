"""The Ansible connection plugin (ansible-core from PyPI, pinned by Scripts/setup), as
Ansible runs it: a playbook against the test agent, through dbg.board.dbg."""

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
    - name: output far beyond RunCommand's limit (streamed)
      shell: head -c 1000000 /dev/zero | tr '\\\\0' x
      register: big
    - assert: {that: ["big.stdout | length == 1000000"]}
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
    ran = subprocess.run([playbook_tool, "-i", "inventory", "play.yml", "-e", "fetched=%s" % fetched],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-2000:]
    assert "failed=0" in ran.stdout
    assert (fetched / "fïle.txt").read_text() == "héllo wörld\n"
    assert (agent.home / "greeting.txt").read_text() == "hello Linux\n"
