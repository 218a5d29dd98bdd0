"""A real browser for the tests: headless Chromium, run once per page or driven over the DevTools protocol."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                           "--enable-logging=stderr", "--v=0", *args], capture_output=True, text=True, timeout=120)


def console(stderr: str) -> list[str]:
    """Console messages (any level: the site's script logs nothing) and uncaught errors in Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


#: Skips a test where no Chromium is installed.
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)")


class DevTools:
    """A headless Chromium driven over the DevTools protocol on a pipe (its fds 3 and 4; no extra package)."""

    def __init__(self, profile: Path):
        to_browser, self._to = os.pipe()
        self._from, from_browser = os.pipe()

        def wire():  # in the child: the protocol's fixed descriptors (kept open by pass_fds)
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                                      "--remote-debugging-pipe", f"--user-data-dir={profile}"], preexec_fn=wire,
                                     pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._id, self.events = b"", 0, []

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from, 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params) -> int:
        self._id += 1
        os.write(self._to, json.dumps({"id": self._id, "method": method, "params": params,
                                       **({"sessionId": session} if session else {})}).encode() + b"\0")
        return self._id

    def call(self, method: str, session: str | None = None, **params) -> dict:
        sent = self.send(method, session, **params)
        while (message := self._read()).get("id") != sent:
            self.events.append(message)
        assert "error" not in message, message
        return message["result"]

    def open(self, url: str, width: int, height: int) -> str:
        """A new page showing `url`, loaded; returns its session."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.enable", session)
        self.call("Runtime.enable", session)
        self.send("Page.navigate", session, url=url)
        while (message := self._read()).get("method") != "Page.loadEventFired":
            self.events.append(message)
        return session

    def evaluate(self, session: str, expression: str):
        result = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def console(self) -> list[dict]:
        """Console messages and uncaught exceptions seen so far."""
        return [m for m in self.events if m.get("method") in ("Runtime.consoleAPICalled",
                                                                "Runtime.exceptionThrown")]

    def close(self) -> None:
        self.send("Browser.close")
        self.proc.wait(timeout=60)
        os.close(self._to)
        os.close(self._from)
