"""Fixtures for fault-layer tests: a Toxiproxy API, a small HTTP upstream, a process to pause."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from paychaos.faults import ToxiproxyClient
from paychaos.faults.toxiproxy_server import ServerThread, ToxiproxyServer
from tests.support.http import send_json


@pytest.fixture
def toxiproxy() -> Iterator[ServerThread]:
    """The embedded server in a thread of the test process (a Toxiproxy the 'user' runs)."""
    with ToxiproxyServer(port=0, seed=7).run_in_thread() as handle:
        yield handle


@pytest.fixture
def metered() -> Iterator[ServerThread]:
    """The embedded server with its /metrics on (--proxy-metrics)."""
    with ToxiproxyServer(port=0, seed=1, proxy_metrics=True).run_in_thread() as handle:
        yield handle


@pytest.fixture
def client(toxiproxy: ServerThread) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(toxiproxy.url) as api:
        yield api


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        send_json(self, 200, self.server.config if self.path == "/config" else {"ok": True})  # type: ignore[attr-defined]

    def do_PUT(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("percent", 0) > 100:
            send_json(self, 422, {"error": "percent must be between 0 and 100"})
            return
        self.server.config = body  # type: ignore[attr-defined]
        send_json(self, 200, body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on loopback: GET / answers {"ok": true}; /config is a settable document."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.config = {"percent": 5, "applies_to": "code", "code": "SPRING"}  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process of our own to pause and resume."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()
