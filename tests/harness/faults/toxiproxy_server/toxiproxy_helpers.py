"""Test helpers: a tiny API client and blocking loopback sockets that wait with deadlines.

The tests hold both ends of every proxied connection: the client socket, and
the upstream's accepted socket (:class:`Upstream` is a bare listening socket the
test accepts from), so each toxic's effect is observed on real sockets without
helper threads. Every wait is a blocking call with a timeout, never a sleep.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

WAIT = 5.0  # upper bound for anything that should happen "promptly"


@dataclass
class Reply:
    status: int
    body: Any
    text: str


_NO_BODY = object()


class Api:
    """Just enough HTTP to drive the API and see exactly what it answers."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self,
        method: str,
        path: str,
        body: Any = _NO_BODY,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        data = raw if raw is not None else None if body is _NO_BODY else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, exc.read()
        text = payload.decode()
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return Reply(status, parsed, text)

    def get(self, path: str) -> Reply:
        return self.call("GET", path)

    def post(self, path: str, body: Any = _NO_BODY, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def delete(self, path: str) -> Reply:
        return self.call("DELETE", path)

    def create_proxy(self, name: str, upstream: str, **fields: Any) -> dict[str, Any]:
        reply = self.post("/proxies", {"name": name, "upstream": upstream, **fields})
        assert reply.status == 201, reply
        return dict(reply.body)

    def add_toxic(
        self,
        proxy: str,
        type_: str,
        stream: str = "downstream",
        *,
        name: str | None = None,
        toxicity: float | None = None,
        **attributes: int,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": type_, "stream": stream, "attributes": attributes}
        if name is not None:
            body["name"] = name
        if toxicity is not None:
            body["toxicity"] = toxicity
        reply = self.post(f"/proxies/{proxy}/toxics", body)
        assert reply.status == 200, reply
        return dict(reply.body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        reply = self.delete(f"/proxies/{proxy}/toxics/{name}")
        assert reply.status == 204, reply


class Upstream:
    """A listening socket on loopback; the test accepts the proxy's connections itself."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"

    def accept(self, timeout: float = WAIT) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(WAIT)
        return conn

    def close(self) -> None:
        self.sock.close()


def port_of(proxy: dict[str, Any]) -> int:
    return int(str(proxy["listen"]).rsplit(":", 1)[1])


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def open_pair(proxy: dict[str, Any], upstream: Upstream) -> tuple[socket.socket, socket.socket]:
    """A client connected through ``proxy``, and the upstream's side of the same connection."""
    client = connect(port_of(proxy))
    return client, upstream.accept()


def recv_exactly(sock: socket.socket, n: int, timeout: float = WAIT) -> bytes:
    deadline = time.monotonic() + timeout
    out = bytearray()
    while len(out) < n:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(min(n - len(out), 1 << 20))
        if not chunk:
            raise AssertionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def recv_until_eof(sock: socket.socket, timeout: float = WAIT) -> bytes:
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(out)
        out += chunk


def assert_silent(sock: socket.socket, window: float) -> None:
    """Nothing arrives (no data, no EOF) within ``window`` seconds: a bounded negative check."""
    sock.settimeout(window)
    try:
        chunk = sock.recv(1)
    except TimeoutError:
        return
    raise AssertionError(f"expected silence, got {chunk!r}")


def assert_refused(port: int) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return
    raise AssertionError(f"port {port} still accepts connections")
