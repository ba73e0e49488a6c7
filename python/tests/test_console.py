"""The web console in a real browser: Debian's chromium, headless, driven through the
DevTools protocol (over the PyPI `websockets` client). It logs in, runs `uname -a` and
sees its line, cancels a `sleep`, types input to `cat`, and takes a screenshot (stored
as docs/console.png when DBG_UPDATE_SCREENSHOT=1)."""

import base64
import itertools
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import PASSWORD, ROOT

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as ws_connect  # noqa: E402

from test_http import http  # noqa: E402,F401  (the agent with --http)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="dbg-chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--remote-debugging-port=0", "--user-data-dir=" + self.profile, "--window-size=1100,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        url = None
        while time.monotonic() < deadline and url is None:
            line = self.process.stderr.readline()
            if not line and self.process.poll() is not None:
                break
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            url = found and found.group(1)
        assert url, "chromium did not start"
        self.ws = ws_connect(url, max_size=None, open_timeout=30)
        self.ids = itertools.count(1)
        self.session = None

    def send(self, method, params=None, session=True, timeout=30):
        ident = next(self.ids)
        message = {"id": ident, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = json.loads(self.ws.recv(timeout=timeout))
            if answer.get("id") == ident:
                assert "error" not in answer, answer
                return answer["result"]
        raise TimeoutError(method)

    def open(self, url, width=1100, height=900, mobile=False):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": mobile})
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})

    def eval(self, expression):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def wait(self, expression, timeout=20):
        """Until `expression` is true; false while it throws (the page may still be loading)."""
        probe = "(() => { try { return !!(%s); } catch (error) { return false; } })()" % expression
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.eval(probe):
                return
            time.sleep(0.1)
        raise AssertionError("never true: %s (page: %s)" % (expression, self.eval("document.body.innerText")[:500]))

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"})["data"])

    def close(self):
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Scripts/setup installs it)")
def test_console_in_chromium(http, tmp_path):  # noqa: F811
    browser = Browser()
    try:
        browser.open(http.base + "/")
        browser.wait("document.readyState === 'complete' && !!document.getElementById('lf')")
        browser.wait("document.getElementById('sysl').innerText.includes('agent')")
        browser.eval("document.getElementById('u').value = %s; document.getElementById('p').value = %s;"
                     "document.getElementById('lf').requestSubmit(); true" % (json.dumps(http.agent.user), json.dumps(PASSWORD)))
        browser.wait("!document.getElementById('run').classList.contains('hide')")
        browser.wait("document.getElementById('sysl').innerText.includes('kernel')")
        assert http.agent.user in browser.eval("document.getElementById('who').innerText")
        # A command with its output line.
        browser.eval("document.getElementById('cmd').value = 'uname -a'; document.getElementById('rf').requestSubmit(); true")
        browser.wait("document.getElementById('rst').innerText === 'done'")
        assert browser.eval("document.getElementById('o').innerText").startswith("Linux ")
        # Input lines typed, then the end of input.
        browser.eval("document.getElementById('cmd').value = 'cat'; document.getElementById('rf').requestSubmit(); true")
        browser.wait("!document.getElementById('line').disabled")
        browser.eval("document.getElementById('line').value = 'typed here'; document.getElementById('inf').requestSubmit(); true")
        browser.wait("document.getElementById('o').innerText.split('\\n').includes('typed here')")
        browser.eval("document.getElementById('eof').click(); true")
        browser.wait("document.getElementById('rst').innerText === 'done'")
        # A sleep cancelled.
        browser.eval("document.getElementById('cmd').value = 'echo sleeping; sleep 60'; document.getElementById('rf').requestSubmit(); true")
        browser.wait("document.getElementById('o').innerText.includes('sleeping')")
        started = time.monotonic()
        browser.eval("document.getElementById('stop').click(); true")
        browser.wait("document.getElementById('rst').innerText === 'cancelled'")
        assert time.monotonic() - started < 10
        browser.wait("document.getElementById('news').innerText.includes('logged in')")
        # An action with its input, its result JSON as the last line.
        browser.eval("document.getElementById('kind').value = 'action';"
                     "document.getElementById('cmd').value = 'greet {\"name\": \"web\"}';"
                     "document.getElementById('rf').requestSubmit(); true")
        browser.wait("document.getElementById('rst').innerText === 'done'")
        assert json.loads(browser.eval("document.getElementById('o').innerText").strip()) == {
            "greeting": "hello", "input": {"name": "web"}}
        browser.eval("document.getElementById('kind').value = 'sh'; true")
        browser.eval("document.getElementById('cmd').value = 'uname -a; uptime'; document.getElementById('rf').requestSubmit(); true")
        browser.wait("document.getElementById('rst').innerText === 'done'")
        shot = browser.screenshot()
        assert shot.startswith(b"\x89PNG") and len(shot) > 10000
        (tmp_path / "console.png").write_bytes(shot)
        if os.environ.get("DBG_UPDATE_SCREENSHOT") == "1":
            (ROOT / "docs" / "console.png").write_bytes(shot)
        # A phone's width: nothing wider than the screen.
        browser.open(http.base + "/", width=390, height=844, mobile=True)
        browser.wait("!document.getElementById('run').classList.contains('hide')")
        assert browser.eval("document.documentElement.scrollWidth <= 390"), "the page fits a phone's width"
        browser.eval("document.getElementById('out').click(); true")
        browser.wait("!document.getElementById('login').classList.contains('hide')")
    finally:
        browser.close()
