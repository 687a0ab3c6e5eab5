"""What the embedded Toxiproxy server costs on the data path when it injects nothing.

Three processes, so that no measurement shares an interpreter with the thing it measures:

* a backend (this script with ``--backend``): an HTTP-like responder on uvloop, and a
  bulk sender on plain blocking sockets;
* the proxy: ``python -m paychaos.faults.toxiproxy_server``, with one proxy (no toxics)
  in front of each backend port;
* the load driver (this process): blocking sockets, ``perf_counter_ns`` around each
  exchange, alternating direct and proxied blocks so that drift hits both alike.

Measured: a small request/response round trip over a fresh connection (connect, send,
receive, close) and over one kept-alive connection, p50 and p99, direct and proxied;
and bulk throughput (backend → client) direct and proxied.

    python bench/proxy_overhead.py                 # about 10 s on a 2-core machine
    python bench/proxy_overhead.py --json out.json --pin
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._wire import (
    RESPONSE,
    FixedAnswer,
    keepalive_samples,
    percentile,
    recv_response,
    request,
    start,
)

REQUEST = request("/ping")


# The backend process.


class _HttpLike(FixedAnswer):
    """:class:`FixedAnswer` with Nagle off on the backend's side too."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _bulk_sender(listener: socket.socket) -> None:
    """Each connection sends an 8-byte length; it gets that many bytes, then EOF."""
    block = memoryview(os.urandom(1 << 20))

    def serve(conn: socket.socket) -> None:
        with conn:
            header = b""
            while len(header) < 8:
                chunk = conn.recv(8 - len(header))
                if not chunk:
                    return
                header += chunk
            remaining = int.from_bytes(header, "big")
            while remaining:
                remaining -= conn.send(block[: min(len(block), remaining)])
            conn.shutdown(socket.SHUT_WR)
            conn.recv(1)  # wait for the client to close first: TIME_WAIT stays on its side

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def run_backend() -> None:
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = asyncio.new_event_loop

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_HttpLike, "127.0.0.1", 0, backlog=1024)
        bulk = socket.create_server(("127.0.0.1", 0), backlog=64)
        threading.Thread(target=_bulk_sender, args=(bulk,), daemon=True).start()
        http_port = server.sockets[0].getsockname()[1]
        print(f"backend {http_port} {bulk.getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


# The load driver.


def fresh_samples(port: int, count: int) -> list[int]:
    buf = memoryview(bytearray(len(RESPONSE)))
    out = []
    clock = time.perf_counter_ns
    address = ("127.0.0.1", port)
    for _ in range(count):
        start = clock()
        sock = socket.create_connection(address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(REQUEST)
        recv_response(sock, buf)
        sock.close()
        out.append(clock() - start)
    return out


def bulk_rate(port: int, nbytes: int) -> float:
    """Bytes per second received from the bulk sender."""
    buf = memoryview(bytearray(4 << 20))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        start = time.perf_counter()
        sock.sendall(nbytes.to_bytes(8, "big"))
        got = 0
        while True:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
        elapsed = time.perf_counter() - start
    if got != nbytes:
        raise ConnectionError(f"received {got} of {nbytes} bytes")
    return got / elapsed


def _create_proxy(api: str, name: str, upstream_port: int) -> int:
    body = json.dumps(
        {"name": name, "upstream": f"127.0.0.1:{upstream_port}", "listen": "127.0.0.1:0"}
    ).encode()
    request = urllib.request.Request(f"{api}/proxies", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        listen = json.loads(reply.read())["listen"]
    return int(listen.rsplit(":", 1)[1])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    # Pinned: the proxy gets a core of its own; backend and load driver share the other.
    proxy_cpu, other_cpu = (cpus[-1], cpus[0]) if pin else (None, None)
    if pin:
        os.sched_setaffinity(0, {other_cpu})
    backend, line = start([sys.executable, __file__, "--backend"], "backend ", other_cpu)
    proxy_server, ready = start(
        [sys.executable, "-m", "paychaos.faults.toxiproxy_server", "--port", "0"],
        "toxiproxy_server listening on ",
        proxy_cpu,
    )
    try:
        http_port, bulk_port = (int(p) for p in line.split()[1:3])
        api = ready.split()[-1]
        ports = {
            "direct": (http_port, bulk_port),
            "proxied": (
                _create_proxy(api, "bench_http", http_port),
                _create_proxy(api, "bench_bulk", bulk_port),
            ),
        }
        keepalive: dict[str, list[int]] = {"direct": [], "proxied": []}
        fresh: dict[str, list[int]] = {"direct": [], "proxied": []}
        bulk: dict[str, list[float]] = {"direct": [], "proxied": []}
        for _ in range(args.rounds):
            for path, (http, bulk_p) in ports.items():
                keepalive[path] += keepalive_samples(http, args.requests // args.rounds, REQUEST, warm=50)
                fresh[path] += fresh_samples(http, args.fresh // args.rounds)
                bulk[path].append(bulk_rate(bulk_p, args.bulk_mb << 20))
    finally:
        proxy_server.terminate()  # SIGTERM: the server stops cleanly
        backend.kill()
        proxy_server.wait(10)
        backend.wait(10)

    def latency(samples: dict[str, list[int]]) -> dict[str, float]:
        out = {
            f"{path}_{name}": percentile(s, q)
            for path, s in samples.items()
            for name, q in (("p50", 0.5), ("p99", 0.99))
        }
        out["added_p50"] = out["proxied_p50"] - out["direct_p50"]
        out["added_p99"] = out["proxied_p99"] - out["direct_p99"]
        out["samples_each"] = len(samples["direct"])
        return out

    direct_mb = statistics.median(bulk["direct"]) / 1e6
    proxied_mb = statistics.median(bulk["proxied"]) / 1e6
    return {
        "environment": {
            "python": platform.python_version(),
            "cpus": len(cpus),
            "pinned": pin,
            "platform": platform.platform(),
        },
        "fresh_connection_us": latency(fresh),
        "keepalive_us": latency(keepalive),
        "bulk_mb_s": {
            "direct": direct_mb,
            "proxied": proxied_mb,
            "proxied_share": proxied_mb / direct_mb,
            "runs_each": len(bulk["direct"]),
            "bytes_per_run": args.bulk_mb << 20,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    pinning = "pinned (proxy on its own core)" if env["pinned"] else "not pinned"
    rows = [
        f"Python {env['python']}, {env['cpus']} CPUs, {pinning}",
        "",
        "| small request/response | direct p50 | direct p99 | proxied p50 | proxied p99 "
        "| added p50 | added p99 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, key in (("fresh connection (µs)", "fresh_connection_us"), ("kept-alive (µs)", "keepalive_us")):
        r = result[key]
        rows.append(
            f"| {label} | {r['direct_p50']:.0f} | {r['direct_p99']:.0f} | {r['proxied_p50']:.0f} "
            f"| {r['proxied_p99']:.0f} | {r['added_p50']:.0f} | {r['added_p99']:.0f} |"
        )
    bulk = result["bulk_mb_s"]
    rows += [
        "",
        "| bulk throughput | direct | proxied | proxied / direct |",
        "|---|---:|---:|---:|",
        f"| MB/s (median of {bulk['runs_each']} × {bulk['bytes_per_run'] >> 20} MiB) "
        f"| {bulk['direct']:.0f} | {bulk['proxied']:.0f} | {bulk['proxied_share']:.0%} |",
    ]
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=10_000, help="kept-alive round trips per path")
    parser.add_argument("--fresh", type=int, default=2_000, help="fresh-connection round trips per path")
    parser.add_argument("--bulk-mb", type=int, default=1024, help="MiB per bulk run")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/proxied blocks")
    parser.add_argument("--pin", action="store_true", help="give the proxy a CPU of its own")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.backend:
        run_backend()
        return 0
    result = measure(args)
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
