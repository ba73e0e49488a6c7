#!/usr/bin/env python3
"""A JSON-RPC 2.0 client of dbgd's application runtime socket, with the standard library
only (socket, json): an implementation independent of the agent's. Each scenario checks
the agent's answers and exits non-zero with a message at the first difference.

    app_rpc.py SOCKET methods HOME          every method and procedure, batches,
                                            notifications, each error code, malformed input
    app_rpc.py SOCKET restart               main that fails is restarted with backoff
    app_rpc.py SOCKET stubborn              main that ignores SIGTERM is killed
    app_rpc.py SOCKET noisy                 the log ring keeps the last lines, counts the rest
    app_rpc.py SOCKET sandbox HOME          the sandbox's limits, against execute's
    app_rpc.py SOCKET status                this caller may call
    app_rpc.py SOCKET denied                this caller gets one refusal line
    app_rpc.py SOCKET refused-connect       this caller cannot even connect
"""
import hashlib
import json
import os
import socket
import sys
import tarfile
import threading
import time

DEADLINE = time.monotonic() + 120


def fail(message):
    print("FAIL: " + message, flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


class Client:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.buffer = b""
        self.next_id = 1

    def send_raw(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def answer(self):
        line = self.line()
        check(line is not None, "the connection closed instead of answering")
        try:
            return json.loads(line)
        except ValueError as error:
            fail("not JSON: %r (%s)" % (line[:200], error))

    def call(self, method, params=None, notify=False):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if notify:
            self.send_raw(json.dumps(message).encode() + b"\n")
            return None
        message["id"] = self.next_id
        self.next_id += 1
        self.send_raw(json.dumps(message).encode() + b"\n")
        reply = self.answer()
        check(reply.get("jsonrpc") == "2.0" and reply.get("id") == message["id"], "a reply to %s: %r" % (method, reply))
        return reply

    def result(self, method, params=None):
        reply = self.call(method, params)
        check("result" in reply, "%s(%r) failed: %r" % (method, params, reply))
        return reply["result"]

    def error(self, method, params, code):
        reply = self.call(method, params)
        check("error" in reply and reply["error"]["code"] == code, "%s(%r): expected error %d, got %r" % (method, params, code, reply))
        return reply["error"]

    def close(self):
        self.sock.close()


def wait_until(what, predicate, seconds=20):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    fail("timed out waiting for " + what)


def processes_running(path):
    """Pids whose command line names `path` (main's script)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                words = f.read().split(b"\0")
        except OSError:
            continue
        if any(word == path.encode() for word in words):
            found.append(int(pid))
    return found


def log_texts(client, since=0):
    return [line["text"] for line in client.result("logs", {"since": since})["lines"]]


def methods(path, home):
    c = Client(path)
    state = os.path.join(home, "example-app")

    # status, start (twice: one process), logs.
    status = c.result("status")
    check(status["state"] == "stopped" and status["pid"] is None and status["lastExit"] is None, "status at first: %r" % status)
    check(c.result("start") is None, "start answers null")
    pid = c.result("status")["pid"]
    check(c.result("start") is None and c.result("status")["pid"] == pid, "a second start keeps the same process")
    app_dir = os.environ["APP_DIR"]
    wait_until("main's log line", lambda: any(t.startswith("main: up as appuser") for t in log_texts(c)))
    check(processes_running(os.path.join(app_dir, "main")) == [pid], "one main process, pid %d" % pid)

    # actions and their procedures.
    check(c.result("actions") == [{"name": "greet", "input": True}, {"name": "probe", "input": False},
                                  {"name": "selftest", "input": False}, {"name": "slow", "input": False}],
          "actions: %r" % c.result("actions"))
    spec = c.result("execute", {"id": "e1", "procedure": "/actions/greet/getInput", "input": None, "timeout": None})
    check(spec["required"] == ["name"], "greet's input spec: %r" % spec)
    check(c.result("execute", {"id": "e1", "procedure": "/actions/selftest/getInput"}) is None, "no input.json: null")
    greeting = c.result("execute", {"id": "e2", "procedure": "/actions/greet/run", "input": {"name": "lab"}, "timeout": 10000})
    check(greeting == {"greeting": "hello lab", "by": "appuser"}, "greet: %r" % greeting)
    failed = c.error("execute", {"id": "e3", "procedure": "/actions/greet/run", "input": {}}, -32001)
    check("needs a" in failed["message"] and failed["data"]["exitCode"] == 2, "a failed action: %r" % failed)
    wait_until("a heartbeat", lambda: os.path.exists(os.path.join(state, "heartbeat")))
    check(c.result("execute", {"procedure": "/actions/selftest/run"})["ok"] is True, "selftest")
    started = time.monotonic()
    slow = c.error("execute", {"procedure": "/actions/slow/run", "timeout": 1000}, -32001)
    check(slow["data"]["exitCode"] == 124 and time.monotonic() - started < 8, "a timed-out action: %r" % slow)
    missing = c.error("execute", {"procedure": "/actions/nosuch/run"}, -32000)
    check(missing["data"]["code"] == "NotFound", "an unknown action: %r" % missing)
    for bad in ["/actions/../run", "/actions/greet/other", "/backup/restore", "actions/greet/run", "/actions/.x/run"]:
        c.error("execute", {"procedure": bad}, -32602)

    # eval: the app's user, directory and environment.
    evaluated = c.result("eval", {"script": "echo $USER; pwd; echo $DBGD_APP_DIR; echo oops >&2; exit 3"})
    check(evaluated["exitCode"] == 3 and evaluated["stdout"] == "appuser\n%s\n%s\n" % (app_dir, app_dir)
          and evaluated["stderr"] == "oops\n" and evaluated["stdoutTruncated"] is False, "eval: %r" % evaluated)

    # init and its kinds; callback (never answered).
    check(c.result("init", {"id": "i1", "kind": "install"}) is None, "init install")
    check(c.result("init", {"id": "i2", "kind": None}) is None, "init null")
    with open(os.path.join(state, "init.log")) as f:
        check(f.read() == "install\nnone\n", "the init hook's kinds")
    c.error("init", {"id": "i3", "kind": "reinstall"}, -32602)
    c.send_raw(b'{"jsonrpc":"2.0","method":"callback","params":{"id":7,"args":[1,"x"]},"id":99}\n')
    check(c.call("status")["id"] != 99, "callback is never answered")
    wait_until("the callback hook", lambda: os.path.exists(os.path.join(state, "callbacks.log"))
               and open(os.path.join(state, "callbacks.log")).read() == '[1,"x"]\n')
    c.error("callback", {"id": "seven", "args": []}, -32602)

    # A backup: the hook's archive, named once complete; its digest is the file's.
    backup = c.result("execute", {"id": "b1", "procedure": "/backup/create", "input": None, "timeout": None})
    with open(backup["path"], "rb") as f:
        data = f.read()
    check(len(data) == backup["size"] and hashlib.sha256(data).hexdigest() == backup["sha256"], "backup digest: %r" % backup)
    with tarfile.open(backup["path"]) as archive:
        check("example-app/init.log" in archive.getnames(), "backup contents: %r" % archive.getnames())
    check(not [n for n in os.listdir(os.path.dirname(backup["path"])) if n.endswith(".partial")], "no partial file left")

    # A followed logs call waits for a line; stop (from another connection) writes some.
    since = c.result("logs", {"since": 0})["next"]
    follower = Client(path)
    got = {}
    thread = threading.Thread(target=lambda: got.update(follower.result("logs", {"since": since, "follow": True})))
    thread.start()
    time.sleep(0.3)
    check(not got, "a followed logs call waits")
    check(c.result("stop") is None, "stop")
    thread.join(30)
    check(got and got["lines"] and got["lines"][0]["seq"] == since + 1, "the followed lines: %r" % got)
    status = c.result("status")
    check(status["state"] == "stopped" and status["lastExit"] == {"code": 0}, "status after stop: %r" % status)
    check(c.result("stop") is None, "stop when stopped")

    # exit: main stops, then the hook gets the target.
    c.result("start")
    check(c.result("exit", {"id": "x1", "target": "2.0.0"}) is None, "exit")
    check(c.result("status")["state"] == "stopped", "exit stopped main")
    with open(os.path.join(state, "exit.log")) as f:
        check(f.read() == "2.0.0\n", "the exit hook's target")

    # A batch: answers for the requests, none for the notification, errors for bad items.
    c.send_raw(json.dumps([
        {"jsonrpc": "2.0", "method": "status", "id": "a"},
        {"jsonrpc": "2.0", "method": "eval", "params": {"script": "echo b"}, "id": "b"},
        {"jsonrpc": "2.0", "method": "status"},
        5,
        {"jsonrpc": "2.0", "method": "nosuch", "id": "d"},
    ]).encode() + b"\n")
    answers = c.answer()
    check(isinstance(answers, list) and len(answers) == 4, "batch answers: %r" % answers)
    by_id = {str(a.get("id")): a for a in answers}
    check(by_id["a"]["result"]["state"] == "stopped" and by_id["b"]["result"]["stdout"] == "b\n", "batch results: %r" % answers)
    check(by_id["None"]["error"]["code"] == -32600 and by_id["d"]["error"]["code"] == -32601, "batch errors: %r" % answers)
    # Notifications alone: nothing comes back; the next answer is the next request's.
    c.call("status", notify=True)
    c.send_raw(b'[{"jsonrpc":"2.0","method":"status"},{"jsonrpc":"2.0","method":"actions"}]\n')
    check(c.call("status")["id"] == c.next_id - 1, "notifications are not answered")

    # Pipelined: many lines in one write are all answered, in order (200: more than one
    # turn of the agent's loop).
    c.send_raw(b"".join(b'{"jsonrpc":"2.0","method":"status","id":%d}\n' % i for i in range(1000, 1200)))
    check([c.answer()["id"] for _ in range(200)] == list(range(1000, 1200)), "pipelined answers in order")

    # Each error code.
    c.error("nosuch", None, -32601)
    c.error("stop", {"x": 1}, -32602)
    c.error("execute", {"id": "e"}, -32602)
    c.error("execute", {"procedure": "/actions/greet/run", "timeout": 0}, -32602)
    c.error("execute", {"procedure": "/actions/greet/run", "timeout": 1.5}, -32602)
    c.error("logs", {"since": -1}, -32602)
    c.error("eval", ["echo"], -32602)

    malformed = {
        "truncated": (b'{"jsonrpc":"2.0","method":"status"', -32700),
        "deep nesting": (b"[" * 100 + b"]" * 100, -32700),
        "invalid UTF-8": (b'{"jsonrpc":"2.0","method":"st\xffatus","id":1}', -32700),
        "overlong UTF-8": (b'{"jsonrpc":"2.0","method":"\xc0\xafstatus","id":1}', -32700),
        "lone surrogate": (b'{"jsonrpc":"2.0","method":"\\ud800","id":1}', -32700),
        "raw control character": (b'{"jsonrpc":"2.0","method":"sta\x01tus","id":1}', -32700),
        "long number": (b'{"jsonrpc":"2.0","method":"status","id":' + b"9" * 300 + b"}", -32700),
        "duplicate keys": (b'{"jsonrpc":"2.0","method":"status","method":"stop","id":1}', -32700),
        "trailing garbage": (b'{"jsonrpc":"2.0","method":"status","id":1} x', -32700),
        "NaN": (b'{"jsonrpc":"2.0","method":"status","id":NaN}', -32700),
        "single quotes": (b"{'jsonrpc':'2.0'}", -32700),
        "byte order mark": (b'\xef\xbb\xbf{"jsonrpc":"2.0","method":"status","id":1}', -32700),
        "bad escape": (b'{"jsonrpc":"2.0","method":"\\q","id":1}', -32700),
        "leading zero": (b'{"jsonrpc":"2.0","method":"status","id":012}', -32700),
        "empty batch": (b"[]", -32600),
        "oversized batch": (json.dumps([{"jsonrpc": "2.0", "method": "status", "id": i} for i in range(65)]).encode(), -32600),
        "not an object": (b'"status"', -32600),
        "null": (b"null", -32600),
        "wrong version": (b'{"jsonrpc":"1.0","method":"status","id":1}', -32600),
        "method not a string": (b'{"jsonrpc":"2.0","method":1,"id":1}', -32600),
        "id an object": (b'{"jsonrpc":"2.0","method":"status","id":{}}', -32600),
        "params a string": (b'{"jsonrpc":"2.0","method":"status","params":"x","id":1}', -32600),
    }
    for kind, (text, code) in malformed.items():
        c.send_raw(text + b"\n")
        reply = c.answer()
        check(isinstance(reply, dict) and reply.get("error", {}).get("code") == code, "%s: expected %d, got %r" % (kind, code, reply))
    # A huge (but short) number is kept as written, not rounded.
    c.send_raw(b'{"jsonrpc":"2.0","method":"status","id":1e999999}\n')
    check(c.line().endswith(b'"id":1e999999}'), "a huge id is echoed as written")
    # A line longer than the frame limit: an error; the rest of the line is skipped and
    # the next line is read as usual.
    c.send_raw(b'{"jsonrpc":"2.0","method":"eval","params":{"script":"' + b"x" * (3 << 20) + b'"},"id":1}\n')
    reply = c.answer()
    check(reply["error"]["code"] == -32700 and "longer than" in reply["error"]["message"], "an overlong line: %r" % reply)
    # After all that, the agent still answers.
    check(c.result("status")["state"] == "stopped", "the agent survived")
    print("methods: ok (%d malformed kinds)" % (len(malformed) + 2))


def restart(path):
    c = Client(path)
    c.result("start")
    status = wait_until("two restarts", lambda: (lambda s: s if s["restarts"] >= 2 else None)(c.result("status")), 20)
    check(status["lastExit"] == {"code": 1}, "the failure is recorded: %r" % status)
    delays = [t for t in log_texts(c) if t.startswith("restarting main in")]
    check(delays[:2] == ["restarting main in 1000 ms", "restarting main in 2000 ms"], "the backoff grows: %r" % delays)
    check(c.result("stop") is None, "stop while restarting")
    restarts = c.result("status")["restarts"]
    time.sleep(2.5)
    status = c.result("status")
    check(status["state"] == "stopped" and status["restarts"] == restarts, "no restart after stop: %r" % status)
    print("restart: ok (%d restarts)" % restarts)


def stubborn(path):
    c = Client(path)
    c.result("start")
    wait_until("main up", lambda: "up" in log_texts(c))
    started = time.monotonic()
    check(c.result("stop") is None, "stop")
    took = time.monotonic() - started
    status = c.result("status")
    check(status["lastExit"] == {"signal": 9} and 0.9 < took < 5, "SIGKILL after the timeout: %r after %.1f s" % (status, took))
    check(any("SIGKILL" in t for t in log_texts(c)), "the log says SIGKILL")
    print("stubborn: ok (stopped in %.1f s)" % took)


def noisy(path):
    c = Client(path)
    c.result("start")
    wait_until("the last line", lambda: "the end" in [line["text"] for line in c.result("logs", {"limit": 10000})["lines"]])
    page = c.result("logs", {"since": 0, "limit": 10000})
    lines = page["lines"]
    check(page["dropped"] > 0 and lines[0]["seq"] == page["dropped"] + 1, "dropped lines are counted: %r" % page["dropped"])
    check(any(line["cut"] and len(line["text"]) == 4096 for line in lines), "a long line is cut at 4096 bytes")
    check(all(a["seq"] + 1 == b["seq"] for a, b in zip(lines, lines[1:])), "the kept lines are in order")
    c.result("stop")
    print("noisy: ok (%d kept, %d dropped)" % (len(lines), page["dropped"]))


def sandbox(path, home):
    c = Client(path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    params = {"procedure": "/actions/probe/run", "input": {"port": port, "home": home}}
    outside = c.result("execute", params)
    os.unlink(os.path.join("/tmp", outside["tmpName"]))
    check(outside["wroteHome"] and outside["wroteTmp"] and outside["reachedHost"] and outside["pid"] > 2,
          "the probe outside the sandbox: %r" % outside)
    # Its own PID namespace: its parent is that namespace's pid 1, its own pid small (2,
    # or 3 under qemu-user, which starts the program through one more process).
    inside = c.result("sandbox", params)
    check(not inside["wroteHome"] and inside["wroteTmp"] and not inside["reachedHost"] and inside["pid"] < 10
          and inside["initIsOwn"] and inside["interfaces"] == ["lo"], "the probe in the sandbox: %r" % inside)
    check(not os.path.exists(os.path.join("/tmp", inside["tmpName"])), "the sandbox's /tmp is its own")
    print("sandbox: ok")


def status(path):
    check(Client(path).result("status")["state"] == "stopped", "status")
    print("status: ok")


def denied(path):
    c = Client(path)
    reply = c.answer()
    check(reply["error"]["code"] == -32000 and "Denied" in reply["error"]["message"], "refusal: %r" % reply)
    check(c.line() is None, "then the connection closes")
    print("denied: ok")


def refused_connect(path):
    try:
        Client(path)
    except PermissionError:
        print("refused-connect: ok")
        return
    fail("connected to a socket of another group")


def main():
    path, scenario = sys.argv[1], sys.argv[2]
    if scenario == "methods":
        methods(path, sys.argv[3])
    elif scenario == "restart":
        restart(path)
    elif scenario == "stubborn":
        stubborn(path)
    elif scenario == "noisy":
        noisy(path)
    elif scenario == "sandbox":
        sandbox(path, sys.argv[3])
    elif scenario == "status":
        status(path)
    elif scenario == "denied":
        denied(path)
    elif scenario == "refused-connect":
        refused_connect(path)
    else:
        fail("unknown scenario " + scenario)


if __name__ == "__main__":
    main()
