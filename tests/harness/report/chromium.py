"""Headless Chromium driven over the DevTools protocol (one websocket, no browser download, no network).

    with Chromium(tmp_path / "profile") as browser:
        page = browser.open(Path("report.html").as_uri())
        page.wait_for("document.body.dataset.ready === 'true'")
        page.screenshot(tmp_path / "report.png")
        assert page.console_errors == [] and page.failed_requests == []

Chromium is Debian's (``/usr/bin/chromium``), started with a fresh profile,
``--remote-debugging-port=0`` (it writes the port it chose into the profile's
DevToolsActivePort) and every name resolving nowhere, so any request that
tries to leave the machine fails and is reported.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.wait import wait_until

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--hide-scrollbars",
    "--window-size=1280,900",
)


class DevToolsError(Exception):
    pass


class Chromium:
    def __init__(self, profile: Path, *, executable: Path = CHROMIUM) -> None:
        self.profile = profile
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self._socket: ClientConnection | None = None
        self._closing = contextlib.ExitStack()
        self.pages: list[Page] = []
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self.log = profile.parent / f"{profile.name}-chromium.log"

    def __enter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=False)
        args = [str(self.executable), *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                "about:blank"]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        port_file = self.profile / "DevToolsActivePort"

        def ready() -> list[str] | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise DevToolsError(f"chromium exited with {self.process.returncode}; see {self.log}")
            lines = port_file.read_text().split() if port_file.exists() else []
            return lines if len(lines) == 2 else None

        port, path = wait_until(ready, timeout=30, what="Chromium's DevToolsActivePort")
        url = f"ws://127.0.0.1:{port}{path}"
        self._socket = self._closing.enter_context(connect(url, max_size=None, open_timeout=10))
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # the group this Popen started, by its id
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    # -- protocol ---------------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None,
             timeout: float = 30) -> dict[str, Any]:  # fmt: skip
        assert self._socket is not None
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsError(f"{method}: no answer within {timeout}s")
            reply = json.loads(self._socket.recv(timeout=left))
            if reply.get("id") == message["id"]:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def events(self, session: str) -> list[dict[str, Any]]:
        """Events of one page received so far (they arrive between answers)."""
        return [e for e in self._events if e.get("sessionId") == session]

    def pump(self, seconds: float = 0.05) -> None:
        """Read events that arrived while nothing was asked."""
        assert self._socket is not None
        try:
            while True:
                event = json.loads(self._socket.recv(timeout=seconds))
                if "method" in event:
                    self._events.append(event)
        except TimeoutError:
            return

    def open(self, url: str, *, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session, target)
        self.pages.append(page)
        for domain in ("Page", "Runtime", "Network", "Log"):
            page.send(f"{domain}.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        page.send("Page.navigate", {"url": url})
        wait_until(page.loaded, timeout=30, what=f"load event of {url}")
        return page


class Page:
    def __init__(self, browser: Chromium, session: str, target: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})
        self.browser.pages.remove(self)

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        self.browser.pump(0.01)
        return [e for e in self.browser.events(self.session) if e["method"] in methods]

    def loaded(self) -> bool:
        return bool(self._events("Page.loadEventFired"))

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                               "awaitPromise": True})  # fmt: skip
        if "exceptionDetails" in reply:
            raise DevToolsError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        return wait_until(lambda: self.evaluate(expression), timeout=timeout, what=expression)

    @property
    def console_errors(self) -> list[str]:
        errors = []
        for e in self._events("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded"):
            p = e["params"]
            if e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                errors.append(str(p["exceptionDetails"].get("exception", {}).get("description", p)))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(f"{p['entry'].get('url', '')}: {p['entry']['text']}")
        return errors

    @property
    def failed_requests(self) -> list[str]:
        requests = {e["params"]["requestId"]: e["params"]["request"]["url"]
                    for e in self._events("Network.requestWillBeSent")}  # fmt: skip
        return [f"{requests.get(e['params']['requestId'], '?')}: {e['params']['errorText']}"
                for e in self._events("Network.loadingFailed")]  # fmt: skip

    @property
    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self._events("Network.requestWillBeSent")]

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page, not only the window."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        width, height = int(size["width"]), min(int(size["height"]), 16000)
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        }, timeout=60)  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path
