"""What the proxy benches share: a fixed HTTP/1.1 exchange on raw sockets, its backend, timing helpers.

Both ``proxy_overhead.py`` (the embedded Toxiproxy) and ``http_faults.py`` (the HTTP hop) time
the same kept-alive exchange direct and through the thing measured, with a backend process
that answers every request head at once, so that neither side's HTTP stack is in the numbers.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
    b'Connection: keep-alive\r\n\r\n{"status":"ok"}\n'
)


def request(path: str) -> bytes:
    """A small GET with the headers a client sends, no body."""
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: paychaos-bench\r\nAccept: */*\r\n\r\n".encode()


def loop_factory() -> Any:
    """uvloop's event loop when installed (as the servers measured use), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


class FixedAnswer(asyncio.Protocol):
    """Answers :data:`RESPONSE` once per request head received (requests may be pipelined)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        self.pending += data
        heads = self.pending.count(b"\r\n\r\n")
        if heads:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * heads)


def recv_response(sock: socket.socket, buf: memoryview) -> None:
    got = 0
    while got < len(RESPONSE):
        n = sock.recv_into(buf[got:])
        if not n:
            raise ConnectionError("closed mid-response")
        got += n


def keepalive_samples(port: int, count: int, sent: bytes, *, warm: int) -> list[int]:
    """Round trips of ``sent`` over one kept-alive connection, in ns, after ``warm`` untimed ones."""
    buf = memoryview(bytearray(len(RESPONSE)))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(warm):  # warm the path before timing it
            sock.sendall(sent)
            recv_response(sock, buf)
        out = []
        clock = time.perf_counter_ns
        for _ in range(count):
            start = clock()
            sock.sendall(sent)
            recv_response(sock, buf)
            out.append(clock() - start)
    return out


def percentile(samples: list[int], q: float) -> float:
    """The ``q`` quantile of samples in ns, in µs."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def start(cmd: list[str], prefix: str, cpu: int | None) -> tuple[subprocess.Popen[str], str]:
    """Start a child that prints one line beginning ``prefix`` once it serves; pin it to ``cpu``."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise RuntimeError(f"{cmd[1:]} did not start: {line!r}")
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    return proc, line
