"""What a Toxiproxy server costs on the data path when it injects nothing: the embedded one,
and the reference ``toxiproxy-server`` in the same run when it is on PATH.

Separate processes, so that no measurement shares an interpreter with the thing it measures:

* a backend (this script with ``--backend``): an HTTP-like responder on uvloop, and a
  bulk sender on plain blocking sockets;
* each proxy server: ``python -m paychaos.faults.toxiproxy_server``, ``toxiproxy-server`` if
  found, and any given with ``--server``; each has one proxy (no toxics) in front of each
  backend port;
* the load driver (this process): blocking sockets, ``perf_counter_ns`` around each
  exchange, alternating direct and proxied blocks so that drift hits every path alike.

Measured: a small request/response round trip over a fresh connection (connect, send,
receive, close) and over one kept-alive connection, p50 and p99, direct and through each
server; and bulk throughput (backend → client). With the reference present, the table gives
each measure of the embedded server as a ratio to the reference's.

On a shared machine one run moves by ±20 µs from the next; ``--repeat N`` runs the whole
measurement N times (fresh servers each time) and reports each figure's median over the runs,
with the range of the added fresh-connection p50. The proxy's CPU time per fresh connection
(user + system, from /proc) moves much less than its latency and is reported beside it.

    python bench/proxy_overhead.py                 # about 30 s on a 2-core machine
    python bench/proxy_overhead.py --json out.json --pin
    python bench/proxy_overhead.py --only fresh --fresh 8000 --bulk-mb 0 --repeat 7
    python bench/proxy_overhead.py --server 'before=env PYTHONPATH=/tmp/old python -m old_tp --port {port}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._wire import (
    REPO,
    RESPONSE,
    FixedAnswer,
    keepalive_samples,
    percentile,
    recv_response,
    request,
    start,
)

REQUEST = request("/ping")
EMBEDDED = f"{shlex.quote(sys.executable)} -m paychaos.faults.toxiproxy_server --port {{port}}"
REFERENCE = "toxiproxy-server -host 127.0.0.1 -port {port}"


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


# The proxy servers.


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


def _start_server(command: str, cpu: int | None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a Toxiproxy-compatible server from ``command`` (``{port}`` filled in); wait until it answers."""
    port = _free_port()
    argv = shlex.split(command.format(port=port))
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if cpu is not None:
        os.sched_setaffinity(proc.pid, {cpu})
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{api}/version", timeout=1):
                return proc, api
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"{command} did not start") from None
            time.sleep(0.05)  # polling a child process we do not control, not synchronising a test


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _create_proxy(api: str, name: str, upstream_port: int) -> int:
    body = json.dumps(
        {"name": name, "upstream": f"127.0.0.1:{upstream_port}", "listen": "127.0.0.1:0"}
    ).encode()
    req = urllib.request.Request(
        f"{api}/proxies", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        listen = json.loads(reply.read())["listen"]
    return int(listen.rsplit(":", 1)[1])


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


def servers_to_run(args: argparse.Namespace) -> dict[str, str]:
    servers = {"embedded": EMBEDDED}
    if not args.no_reference and shutil.which("toxiproxy-server"):
        servers["reference"] = REFERENCE
    for spec in args.server:
        name, sep, command = spec.partition("=")
        if not sep or not name or "{port}" not in command:
            raise SystemExit(f"--server wants NAME='command with {{port}}', got {spec!r}")
        servers[name] = command
    return servers


def measure(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    # Pinned: the proxies get a core of their own; backend and load driver share the other.
    proxy_cpu, other_cpu = (cpus[-1], cpus[0]) if pin else (None, None)
    if pin:
        os.sched_setaffinity(0, {other_cpu})
    backend, line = start([sys.executable, __file__, "--backend"], "backend ", other_cpu)
    running: list[subprocess.Popen[bytes]] = []
    try:
        http_port, bulk_port = (int(p) for p in line.split()[1:3])
        ports = {"direct": (http_port, bulk_port)}
        for name, command in servers_to_run(args).items():
            proc, api = _start_server(command, proxy_cpu)
            running.append(proc)
            ports[name] = (
                _create_proxy(api, "bench_http", http_port),
                _create_proxy(api, "bench_bulk", bulk_port),
            )
        keepalive: dict[str, list[int]] = {path: [] for path in ports}
        fresh: dict[str, list[int]] = {path: [] for path in ports}
        bulk: dict[str, list[float]] = {path: [] for path in ports}
        cpu = dict(zip(list(ports)[1:], (psutil.Process(p.pid) for p in running), strict=True))
        fresh_cpu: dict[str, float] = dict.fromkeys(cpu, 0.0)
        for _ in range(args.rounds):
            for path, (http, bulk_p) in ports.items():
                if "keepalive" in args.only:
                    keepalive[path] += keepalive_samples(http, args.requests // args.rounds, REQUEST, warm=50)
                if "fresh" in args.only:
                    before = _cpu_seconds(cpu[path]) if path in cpu else 0.0
                    fresh[path] += fresh_samples(http, args.fresh // args.rounds)
                    if path in cpu:
                        fresh_cpu[path] += _cpu_seconds(cpu[path]) - before
                if "bulk" in args.only and args.bulk_mb:
                    bulk[path].append(bulk_rate(bulk_p, args.bulk_mb << 20))
    finally:
        for proc in running:
            proc.terminate()  # SIGTERM: the servers stop cleanly
        backend.kill()
        for proc in running:
            proc.wait(10)
        backend.wait(10)

    def latency(samples: dict[str, list[int]]) -> dict[str, dict[str, float]] | None:
        """p50 and p99 per path, what each proxy adds to direct and, for fresh connections,
        the proxy process's CPU time per connection (user + system, from /proc)."""
        if not samples["direct"]:
            return None
        out: dict[str, dict[str, float]] = {}
        for path, s in samples.items():
            out[path] = {"p50": percentile(s, 0.5), "p99": percentile(s, 0.99), "samples": len(s)}
        for path in samples:
            out[path]["added_p50"] = out[path]["p50"] - out["direct"]["p50"]
            out[path]["added_p99"] = out[path]["p99"] - out["direct"]["p99"]
            if samples is fresh and path in fresh_cpu:
                out[path]["cpu_us_per_connection"] = fresh_cpu[path] / len(samples[path]) * 1e6
        return out

    return {
        "environment": {
            "python": platform.python_version(),
            "cpus": len(cpus),
            "pinned": pin,
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "servers": list(ports)[1:],
        "fresh_connection_us": latency(fresh),
        "keepalive_us": latency(keepalive),
        "bulk_mb_s": (
            {
                path: {"median": statistics.median(rates) / 1e6, "runs": len(rates)}
                for path, rates in bulk.items()
            }
            if bulk["direct"]
            else None
        ),
        "bytes_per_bulk_run": args.bulk_mb << 20,
    }


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs as one: each figure the median of its runs' figures (samples added up)."""
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    out: dict[str, Any] = {**first, "runs": len(runs)}
    out["environment"] = {
        **first["environment"],
        "load_average_before": runs[0]["environment"]["load_average_before"],
        "load_average_after": runs[-1]["environment"]["load_average_after"],
    }
    for key in ("fresh_connection_us", "keepalive_us"):
        if first[key] is None:
            continue
        out[key] = {
            path: {
                stat: (
                    sum(r[key][path][stat] for r in runs)
                    if stat == "samples"
                    else statistics.median(r[key][path][stat] for r in runs)
                )
                for stat in figures
            }
            for path, figures in first[key].items()
        }
        for path in first["servers"]:
            added = [r[key][path]["added_p50"] for r in runs]
            out[key][path]["added_p50_range"] = [min(added), max(added)]
    if first["bulk_mb_s"] is not None:
        out["bulk_mb_s"] = {
            path: {
                "median": statistics.median(r["bulk_mb_s"][path]["median"] for r in runs),
                "runs": sum(r["bulk_mb_s"][path]["runs"] for r in runs),
            }
            for path in first["bulk_mb_s"]
        }
    out["each_run"] = runs
    return out


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    pinning = "pinned (proxies on their own core)" if env["pinned"] else "not pinned"
    servers = result["servers"]
    load = ", ".join(f"{x:.1f}" for x in env["load_average_before"])
    rows = [f"Python {env['python']}, {env['cpus']} CPUs, {pinning}, load average before: {load}"]
    if result.get("runs", 1) > 1:
        fresh = result["fresh_connection_us"]
        spread = ""
        if fresh is not None:
            spread = "; added fresh-connection p50 per run: " + ", ".join(
                f"{path} {fresh[path]['added_p50_range'][0]:+.0f} to {fresh[path]['added_p50_range'][1]:+.0f}"
                for path in servers
            )
        rows.append(f"Medians of {result['runs']} runs{spread}")
    rows.append("")
    reference = "reference" in servers
    for label, key in (("fresh connection (µs)", "fresh_connection_us"), ("kept-alive (µs)", "keepalive_us")):
        r = result[key]
        if r is None:
            continue
        with_cpu = "cpu_us_per_connection" in r.get(servers[0], {}) if servers else False
        rows += [
            f"| {label} | p50 | p99 | added p50 | added p99 |"
            + (" proxy CPU per connection |" if with_cpu else "")
            + (" p50 / reference |" if reference else ""),
            "|---|---:|---:|---:|---:|" + ("---:|" if with_cpu else "") + ("---:|" if reference else ""),
        ]
        for path in ["direct", *servers]:
            cells = f"| {path} | {r[path]['p50']:.0f} | {r[path]['p99']:.0f} "
            if path == "direct":
                cells += "| | |" + (" |" if with_cpu else "")
            else:
                cells += f"| {r[path]['added_p50']:+.0f} | {r[path]['added_p99']:+.0f} |"
                if with_cpu:
                    cells += f" {r[path]['cpu_us_per_connection']:.0f} |"
            if reference:
                cells += f" {r[path]['p50'] / r['reference']['p50']:.2f} |" if path != "direct" else " |"
            rows.append(cells)
        rows.append("")
    bulk = result["bulk_mb_s"]
    if bulk is not None:
        runs = bulk["direct"]["runs"]
        rows += [
            f"| bulk MB/s (median of {runs} × {result['bytes_per_bulk_run'] >> 20} MiB) | MB/s | share of direct |"
            + (" / reference |" if reference else ""),
            "|---|---:|---:|" + ("---:|" if reference else ""),
        ]
        for path in ["direct", *servers]:
            cells = f"| {path} | {bulk[path]['median']:.0f} | {bulk[path]['median'] / bulk['direct']['median']:.0%} |"
            if reference:
                ratio = bulk[path]["median"] / bulk["reference"]["median"]
                cells += f" {ratio:.2f} |" if path != "direct" else " |"
            rows.append(cells)
    return "\n".join(rows).rstrip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=10_000, help="kept-alive round trips per path")
    parser.add_argument("--fresh", type=int, default=4_000, help="fresh-connection round trips per path")
    parser.add_argument("--bulk-mb", type=int, default=1024, help="MiB per bulk run")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/proxied blocks")
    parser.add_argument(
        "--only",
        type=lambda s: set(s.split(",")),
        default={"fresh", "keepalive", "bulk"},
        help="comma-separated subset of fresh,keepalive,bulk (default: all)",
    )
    parser.add_argument(
        "--server",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="another Toxiproxy-compatible server to measure alongside; COMMAND contains {port}",
    )
    parser.add_argument("--no-reference", action="store_true", help="skip toxiproxy-server even if on PATH")
    parser.add_argument("--pin", action="store_true", help="give the proxies a CPU of their own")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the whole measurement N times; report medians"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.backend:
        run_backend()
        return 0
    result = combined([measure(args) for _ in range(max(1, args.repeat))])
    print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
