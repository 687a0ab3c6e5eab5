"""What the HTTP fault hop costs a request when its rules act on nothing.

Three processes, so that no measurement shares an interpreter with the thing it measures:

* a backend (this script with ``--backend``): a fixed HTTP/1.1 answer per request, on uvloop;
* the hop: ``python -m paychaos.faults.httphop``, with one link in front of the backend and one
  rule on it that never matches (so every request is parsed, matched and relayed);
* the load driver (this process).

Measured, side by side in one run:

* latency: small kept-alive GETs over one connection, p50 and p99, direct and through the hop,
  in alternating blocks so that drift hits both alike; "added" is the difference;
* throughput: requests/s with several concurrent kept-alive clients (each waits for its answer
  before sending the next), direct and through the hop.

    python bench/http_faults.py                  # about 15 s on a 2-core machine
    python bench/http_faults.py --json out.json --pin
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._wire import (
    RESPONSE,
    FixedAnswer,
    keepalive_samples,
    loop_factory,
    percentile,
    request,
    start,
)

REQUEST = request("/payments/42")
NEVER = {"id": "never", "match": {"path": "/never-matches/*"}, "action": {"type": "abort"}, "seed": 1}


# The backend process.


def run_backend() -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(FixedAnswer, "127.0.0.1", 0, backlog=1024)
        print(f"backend {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(main())


# The load driver.


class _Client(asyncio.Protocol):
    """A closed-loop client: sends the next request when the previous answer is in."""

    def __init__(self, until: float, counts: list[int]) -> None:
        self.until = until
        self.counts = counts
        self.got = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        while self.got >= len(RESPONSE):
            self.got -= len(RESPONSE)
            self.counts[0] += 1
            if time.perf_counter() >= self.until:
                self.transport.close()
                return
            self.transport.write(REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


def requests_per_second(port: int, clients: int, seconds: float) -> float:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        counts = [0]
        start = time.perf_counter()
        until = start + seconds
        made = [
            await loop.create_connection(lambda: _Client(until, counts), "127.0.0.1", port)
            for _ in range(clients)
        ]
        await asyncio.gather(*(protocol.done for _, protocol in made))
        return counts[0] / (time.perf_counter() - start)

    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main())


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return cast(dict[str, Any], json.loads(reply.read()))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    # Pinned: the hop gets a core of its own; backend and load driver share the other.
    hop_cpu, other_cpu = (cpus[-1], cpus[0]) if pin else (None, None)
    if other_cpu is not None:
        os.sched_setaffinity(0, {other_cpu})
    journal = Path(tempfile.mkdtemp(prefix="paychaos-bench-")) / "httphop.jsonl"
    backend, line = start([sys.executable, __file__, "--backend"], "backend ", other_cpu)
    hop, ready = start(
        [sys.executable, "-m", "paychaos.faults.httphop", "--port", "0", "--journal", str(journal)],
        "httphop listening on ",
        hop_cpu,
    )
    try:
        backend_port = int(line.split()[1])
        api = ready.split()[-1]
        link = _post(
            f"{api}/links",
            {"name": "bench", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{backend_port}"},
        )
        _post(f"{api}/links/bench/rules", NEVER)
        ports = {"direct": backend_port, "hop": int(link["listen"].rsplit(":", 1)[1])}
        latency: dict[str, list[int]] = {"direct": [], "hop": []}
        for _ in range(args.rounds):
            for path, port in ports.items():
                latency[path] += keepalive_samples(port, args.requests // args.rounds, REQUEST, warm=100)
        rate = {path: requests_per_second(port, args.clients, args.seconds) for path, port in ports.items()}
    finally:
        hop.terminate()  # SIGTERM: the hop stops cleanly
        backend.kill()
        hop.wait(10)
        backend.wait(10)
    if journal.stat().st_size:
        raise RuntimeError(f"the never-matching rule acted: see {journal}")
    out: dict[str, Any] = {
        f"{path}_{name}": percentile(s, q)
        for path, s in latency.items()
        for name, q in (("p50", 0.5), ("p99", 0.99))
    }
    out["added_p50"] = out["hop_p50"] - out["direct_p50"]
    out["added_p99"] = out["hop_p99"] - out["direct_p99"]
    out["samples_each"] = len(latency["direct"])
    return {
        "environment": {
            "python": platform.python_version(),
            "cpus": len(cpus),
            "pinned": pin,
            "platform": platform.platform(),
        },
        "keepalive_us": out,
        "requests_per_s": {
            "direct": rate["direct"],
            "hop": rate["hop"],
            "clients": args.clients,
            "seconds": args.seconds,
        },
    }


def markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    pinning = "pinned (hop on its own core)" if env["pinned"] else "not pinned"
    r = result["keepalive_us"]
    rate = result["requests_per_s"]
    return "\n".join(
        [
            f"Python {env['python']}, {env['cpus']} CPUs, {pinning}; the hop link has one rule that never matches",
            "",
            "| kept-alive GET (µs) | direct p50 | direct p99 | hop p50 | hop p99 | added p50 | added p99 |",
            "|---|---:|---:|---:|---:|---:|---:|",
            f"| {r['samples_each']} requests each | {r['direct_p50']:.0f} | {r['direct_p99']:.0f} "
            f"| {r['hop_p50']:.0f} | {r['hop_p99']:.0f} | {r['added_p50']:.0f} | {r['added_p99']:.0f} |",
            "",
            "| throughput | direct | through the hop |",
            "|---|---:|---:|",
            f"| requests/s ({rate['clients']} kept-alive clients, {rate['seconds']:g} s) "
            f"| {rate['direct']:,.0f} | {rate['hop']:,.0f} |",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=10_000, help="kept-alive round trips per path")
    parser.add_argument("--rounds", type=int, default=4, help="alternating direct/hop blocks")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for the throughput run")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each throughput run")
    parser.add_argument("--pin", action="store_true", help="give the hop a CPU of its own")
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
