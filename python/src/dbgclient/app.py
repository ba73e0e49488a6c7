"""The board's application runtime (seed 002) through AppCall: one JSON-RPC 2.0 call per
request, the same methods as the board's runtime socket (board/README.md, "The
application runtime")."""

import json
import secrets
from typing import Any, Optional

from . import messages as m
from .errors import DbgError


class AppError(DbgError):
    """A JSON-RPC error from the runtime: `code` (-32000: the agent refused, `data`
    names why; -32001: the procedure ran and failed, `data` holds its exitCode, stdout
    and stderr), `message`, `data`."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__("%s (%d)%s" % (message, code, "" if data is None else ": %s" % json.dumps(data)[:500]))
        self.code = code
        self.message = message
        self.data = data


class App:
    """What `Client.app` gives. The session's user must be root or in --rpc-group."""

    def __init__(self, connection, token: str):
        self._connection = connection
        self._token = token
        self._next = 0

    def call(self, method: str, params: Any = None, timeout: Optional[float] = 3600.0) -> Any:
        """One JSON-RPC call; its result, or AppError. `timeout`: how long to wait for
        the answer (a procedure runs as long as its own limit allows)."""
        self._next += 1
        request = {"jsonrpc": "2.0", "method": method, "id": self._next}
        if params is not None:
            request["params"] = params
        saved = self._connection.timeout
        self._connection.set_timeout(timeout)
        try:
            answer = self._connection.dbg("AppCall", m.AppCallRequest(token=self._token,
                                                                      message=json.dumps(request).encode()))
        finally:
            self._connection.set_timeout(saved)
        reply = json.loads(answer.message)
        if "error" in reply:
            error = reply["error"]
            raise AppError(error.get("code", 0), error.get("message", ""), error.get("data"))
        return reply.get("result")

    def status(self) -> dict:
        return self.call("status")

    def logs(self, since: int = 0, limit: int = 1000, follow: bool = False) -> dict:
        return self.call("logs", {"since": since, "limit": limit, "follow": follow})

    def actions(self) -> list:
        return self.call("actions")

    def start(self) -> None:
        self.call("start")

    def stop(self) -> None:
        self.call("stop")

    def init(self, kind: Optional[str] = "install") -> None:
        self.call("init", {"id": secrets.token_hex(4), "kind": kind})

    def exit(self, target: str) -> None:
        self.call("exit", {"id": secrets.token_hex(4), "target": target})

    def eval(self, script: str) -> dict:
        return self.call("eval", {"script": script})

    def execute(self, procedure: str, input: Any = None, timeout_ms: Optional[int] = None,
                sandbox: bool = False) -> Any:
        return self.call("sandbox" if sandbox else "execute",
                         {"id": secrets.token_hex(4), "procedure": procedure, "input": input, "timeout": timeout_ms})

    def run_action(self, name: str, input: Any = None, timeout_ms: Optional[int] = None, sandbox: bool = False) -> Any:
        """An action's result (its JSON), given `input`."""
        return self.execute("/actions/%s/run" % name, input, timeout_ms, sandbox)

    def action_input(self, name: str) -> Any:
        return self.execute("/actions/%s/getInput" % name)

    def create_backup(self, timeout_ms: Optional[int] = None) -> dict:
        """A backup made on the board: `{path, size, sha256}`."""
        return self.execute("/backup/create", None, timeout_ms)
