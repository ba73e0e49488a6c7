"""Ansible connection plugin: tasks reach a board through dbgd, with dbgclient."""

from __future__ import annotations

DOCUMENTATION = """
    name: dbg
    short_description: Run tasks on a board through dbgd (the dbg board agent)
    description:
      - Commands run as streaming processes with the user's shell (stdin for pipelining,
        output of any length); files move in windows of chunks, written under a
        temporary name and renamed, checked with SHA-256.
      - Privilege escalation (become) with a password answers its prompt through stdin.
      - An agent built without streaming processes (the minimal profile, DBG_STREAMS=OFF)
        runs commands captured instead, output bounded by its --max-output; their stdin
        (pipelined modules) is put on the board as a file first. become with a password
        needs streaming processes.
      - Needs the dbgclient package on the controller.
    author: dbg developers
    options:
      remote_addr:
        description: The board's address (a host name or address, or any dbgclient target such as tls://HOST).
        default: inventory_hostname
        type: string
        vars:
          - name: inventory_hostname
          - name: ansible_host
      port:
        description: The agent's port.
        type: int
        default: 5037
        vars:
          - name: ansible_dbg_port
      remote_user:
        description: The user to log in as.
        type: string
        default: root
        vars:
          - name: ansible_user
        keyword:
          - name: remote_user
      password:
        description: The user's password.
        type: string
        vars:
          - name: ansible_password
          - name: ansible_dbg_password
      fingerprint:
        description: Over TLS, the board key's SHA256 fingerprint; without it dbg's known_agents must list the board.
        type: string
        vars:
          - name: ansible_dbg_fingerprint
      timeout:
        description: Seconds to connect, and for any request.
        type: int
        default: 30
        vars:
          - name: ansible_dbg_timeout
      pipelining:
        description: Send modules through stdin instead of as files.
        type: boolean
        default: true
        vars:
          - name: ansible_pipelining
          - name: ansible_dbg_pipelining
"""

import os
import secrets
import shlex

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

try:
    import dbgclient
except ImportError:
    dbgclient = None

display = Display()


class Connection(ConnectionBase):
    """A logged-in dbgclient connection to the board."""

    transport = "dbg.board.dbg"
    has_pipelining = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = None
        # Set once the agent answers that it has no streaming processes.
        self._captured_only = False

    def _target(self) -> str:
        address = self.get_option("remote_addr")
        if "://" in address or address.startswith("unix:"):
            return address
        host = "[%s]" % address if ":" in address and not address.startswith("[") else address
        return "%s:%d" % (host, self.get_option("port"))

    def _connect(self):
        if dbgclient is None:
            raise AnsibleError("the dbg connection needs the dbgclient package on the controller (pip install dbgclient)")
        if self.client is None:
            target = self._target()
            display.vvv("DBG CONNECT %s AS %s" % (target, self.get_option("remote_user")), host=target)
            try:
                self.client = dbgclient.connect(target, user=self.get_option("remote_user"),
                                                password=self.get_option("password") or "",
                                                timeout=self.get_option("timeout"),
                                                fingerprint=self.get_option("fingerprint") or None)
            except dbgclient.DbgError as error:
                raise AnsibleConnectionFailure("dbg: %s: %s" % (target, error)) from None
            self._connected = True
        return self

    def exec_command(self, cmd, in_data=None, sudoable=True):
        """Runs `cmd` with the user's shell as a streaming process (no output limit), or
        captured when the agent has no streaming processes."""
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        display.vvv("DBG EXEC %s" % cmd, host=self.get_option("remote_addr"))
        command = to_text(cmd, errors="surrogate_or_strict")
        prompted = bool(sudoable and self.become and self.become.expect_prompt())
        if not self._captured_only:
            try:
                process = self.client.popen(command)
            except dbgclient.Unsupported as error:
                display.vvv("DBG: %s; commands run captured" % error, host=self.get_option("remote_addr"))
                self._captured_only = True
            except dbgclient.DbgError as error:
                raise AnsibleConnectionFailure("dbg: running %s: %s" % (cmd, error)) from None
            else:
                try:
                    if prompted:
                        self._answer_become_prompt(process)
                    stdout, stderr = process.communicate(in_data)
                except dbgclient.DbgError as error:
                    raise AnsibleConnectionFailure("dbg: running %s: %s" % (cmd, error)) from None
                return process.returncode, stdout, stderr
        return self._exec_captured(command, in_data, prompted)

    def _exec_captured(self, command, in_data, prompted):
        """RunShell for an agent without streaming processes: stdin, if any, is a file put
        on the board under a random name, which the command line removes."""
        if prompted:
            raise AnsibleError("dbg: become with a password answers its prompt through a streaming process, and "
                               "this dbgd was built without them (DBG_STREAMS=OFF): use become without a password, "
                               "or an agent built with streaming processes")
        stdin_path = None
        try:
            if in_data is not None:
                stdin_path = "/tmp/.dbg-stdin-" + secrets.token_hex(16)
                self.client.write_bytes(stdin_path, to_bytes(in_data, errors="surrogate_or_strict"), mode=0o600)
                quoted = shlex.quote(stdin_path)
                # On lines of their own, so a comment at the end of `command` ends there.
                command = "(\n%s\n) < %s; status=$?; rm -f %s; exit $status" % (command, quoted, quoted)
            result = self.client.sh(command)
        except dbgclient.DbgError as error:
            if stdin_path is not None:
                try:
                    self.client.remove(stdin_path)
                except dbgclient.DbgError:
                    pass
            raise AnsibleConnectionFailure("dbg: running %s: %s" % (command, error)) from None
        if result.truncated:
            raise AnsibleError("dbg: the output of %s went beyond the agent's --max-output and was cut (this dbgd "
                               "was built without streaming processes, DBG_STREAMS=OFF, which have no such limit)"
                               % command)
        return result.exit_code, result.stdout, result.stderr

    def _answer_become_prompt(self, process):
        """become with a password (sudo -S, su, ...): the password goes to stdin once the
        prompt shows, unless the escalation succeeds without one. What came before is the
        escalation's own talk, not the command's output."""
        output = b""
        while not self.become.check_success(output) and not self.become.check_password_prompt(output):
            stdout, stderr = process.read_output(timeout=self.get_option("timeout"))
            if not stdout and not stderr:
                raise AnsibleError("dbg: the privilege escalation ended while waiting for its password prompt:\n"
                                   + to_native(output))
            output += stdout + stderr
        if not self.become.check_success(output):
            password = self.become.get_option("become_pass", playcontext=self._play_context)
            process.write(to_bytes(password, errors="surrogate_or_strict") + b"\n")

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        display.vvv("DBG PUT %s TO %s" % (in_path, out_path), host=self.get_option("remote_addr"))
        if not os.path.exists(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound("file or module does not exist: %s" % to_native(in_path))
        try:
            self.client.put(to_text(in_path, errors="surrogate_or_strict"), to_text(out_path, errors="surrogate_or_strict"))
        except (dbgclient.DbgError, OSError) as error:
            raise AnsibleError("dbg: put %s to %s: %s" % (in_path, out_path, error)) from None

    def fetch_file(self, in_path, out_path):
        super().fetch_file(in_path, out_path)
        display.vvv("DBG FETCH %s TO %s" % (in_path, out_path), host=self.get_option("remote_addr"))
        try:
            self.client.get(to_text(in_path, errors="surrogate_or_strict"), to_text(out_path, errors="surrogate_or_strict"))
        except (dbgclient.DbgError, OSError) as error:
            raise AnsibleError("dbg: fetch %s to %s: %s" % (in_path, out_path, error)) from None

    def reset(self):
        self.close()
        self._connect()

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None
        self._connected = False
