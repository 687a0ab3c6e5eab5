"""Fixtures for the hop's integration tests: one hop process per session, a real upstream per test.

The upstream is the standard library's HTTP/1.1 server on 127.0.0.1 in a thread of the test
process, recording every request it is sent; the hop is the real process, started the way the
harness starts it (``start_hop``), with one link per test in front of that test's upstream.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from paychaos.faults._hop import Hop, HopClient, start_hop
from tests.support.wait import wait_until


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def _any(self) -> None:
        body = self._read_body()
        self.server.record(
            Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b'{"parts": ', b"[1, 2, 3]", b"}"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/until-close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"the body ends when the connection does")
            self.close_connection = True
            return
        status = (
            int(m.group(1))
            if (m := re.fullmatch(r"/status/(\d+)", self.path))
            else (201 if self.command == "POST" else 200)
        )
        data = json.dumps({"n": len(self.server.seen), "path": self.path, "body": body.decode()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _any

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout  # type: ignore[misc]  # idle this long: the connection closes
        super().setup()
        self.server.opened(+1)

    def finish(self) -> None:
        super().finish()
        self.server.opened(-1)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Upstream(ThreadingHTTPServer):
    """A real HTTP/1.1 server on loopback that remembers what it was sent, in arrival order."""

    daemon_threads = True

    def __init__(self, idle_timeout: float | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.idle_timeout = idle_timeout
        self.seen: list[Seen] = []
        self.connections = 0  # open right now
        self._lock = threading.Lock()

    def opened(self, change: int) -> None:
        with self._lock:
            self.connections += change

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def paths(self) -> list[str]:
        with self._lock:
            return [s.path for s in self.seen]


def unused_port() -> int:
    """A loopback port nothing listens on (bound a moment, then closed before anyone connects)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def hop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hop]:
    folder = tmp_path_factory.mktemp("httphop")
    with start_hop(log_dir=folder, journal=folder / "httphop.jsonl") as running:
        yield running


@pytest.fixture
def api(hop: Hop) -> Iterator[HopClient]:
    with HopClient(hop.url) as client:
        yield client


@pytest.fixture
def upstream(request: pytest.FixtureRequest) -> Iterator[Upstream]:
    """The test's upstream; ``@pytest.mark.parametrize("upstream", [0.2], indirect=True)`` sets its idle timeout."""
    server = Upstream(getattr(request, "param", None))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class HopLink:
    """A link on the session's hop, in front of this test's upstream."""

    name: str
    url: str
    port: int
    api: HopClient
    journal_path: Path
    created: dict[str, Any] = field(default_factory=dict)

    def rule(self, **rule: Any) -> dict[str, Any]:
        return self.api.add_rule(self.name, rule)

    def journal(self) -> list[dict[str, Any]]:
        lines = self.journal_path.read_text().splitlines() if self.journal_path.exists() else []
        return [entry for entry in map(json.loads, lines) if entry["link"] == self.name]

    def wait_journal(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]]:
            lines = self.journal()
            return lines if len(lines) >= count else []

        return wait_until(enough, timeout=timeout, what=f"{count} journal lines for {self.name}")

    def holding(self, rule_id: str) -> int:
        (mine,) = [link for link in self.api.links() if link["name"] == self.name]
        (rule,) = [r for r in mine["rules"] if r["id"] == rule_id]
        return int(rule["stats"]["holding"])


@pytest.fixture
def link(request: pytest.FixtureRequest, hop: Hop, api: HopClient, upstream: Upstream) -> Iterator[HopLink]:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name)[:60]
    created = api.create_link(name, "127.0.0.1:0", upstream.address)
    port = int(created["listen"].rsplit(":", 1)[1])
    yield HopLink(name, f"http://127.0.0.1:{port}", port, api, hop.journal, created)
    api.delete_link(name)
