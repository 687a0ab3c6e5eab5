"""Open-loop load: the arrival rate achieved against the target, and dropped arrivals counted exactly.

Two parts, both on loopback:

1. A trivial endpoint (bench/_load_target.py: uvicorn, answers at once), loaded at 50, 200,
   500 and 1,000 arrivals/s with one Locust process and with two. Achieved: the iterations that
   really began within the load's time, per second of it (a dispatcher that fell behind starts
   its arrivals late, some after the end). Lateness: how long after its intended time an
   iteration began (start − intended).
2. A slow endpoint (every request takes 1 s, here in this process), 20 arrivals/s for a few
   users: offered = started + dropped must hold exactly, and started is what the users allow
   (each free about once a second).

    python bench/open_loop.py [--duration 10] [--rates 50,200,500,1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paychaos._process import free_port  # noqa: E402
from paychaos.experiment import Load  # noqa: E402
from paychaos.load import LocustProcess, read_arrivals, read_history  # noqa: E402


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def open_loop(host: str, rate: float, duration: float, processes: int, max_users: int) -> dict[str, Any]:
    """One open-loop run; what it offered, started, dropped and achieved."""
    with tempfile.TemporaryDirectory() as tmp:
        load = Load.model_validate({"arrival_rate": rate, "duration": f"{duration}s", "processes": processes,
                                    "max_users": max_users, "timeout": "10s"})  # fmt: skip
        locust = LocustProcess(
            Path(tmp), load=load, scenarios={"one": 1}, seed=1, module="bench._load_target", host=host
        )
        locust.start()
        locust.wait(timeout=duration + 60)
        history = Path(tmp) / "history"
        ops = [op for op in read_history(history) if "intended" in op]
        marks = list(read_arrivals(history))
        t0 = min(m["at"] for m in marks)
    offered = sum(m["offered"] for m in marks)
    started = sum(m["started"] for m in marks)
    dropped = sum(m["dropped"] for m in marks)
    on_time = sum(1 for op in ops if op["start"] < t0 + duration)
    late = [op["start"] - op["intended"] for op in ops]
    return {
        "target": rate,
        "processes": processes,
        "max_users": max_users,
        "offered": offered,
        "started": started,
        "dropped": dropped,
        "recorded": len(ops),
        "achieved": round(on_time / duration, 1),
        "ratio": round(on_time / duration / rate, 4),
        "late_p50_ms": round(_quantile(late, 0.5) * 1000, 2),
        "late_p99_ms": round(_quantile(late, 0.99) * 1000, 2),
        "exact": offered == started + dropped and started == len(ops),
    }


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(1.0)  # the slow stack
        body = b'{"id": "p-1", "state": "OK"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rates", default="50,200,500,1000")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_load_target.py"), str(port)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    fast: list[dict[str, Any]] = []
    try:
        time.sleep(2)  # bench only: let the endpoint come up
        for processes in (1, 2):
            for rate in rates:
                row = open_loop(f"http://127.0.0.1:{port}", rate, args.duration, processes, max_users=200)
                fast.append(row)
                print(json.dumps(row), flush=True)
    finally:
        server.terminate()
        server.wait()

    slow_server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    slow_server.daemon_threads = True
    threading.Thread(target=slow_server.serve_forever, daemon=True).start()
    slow: list[dict[str, Any]] = []
    try:
        for users in (2, 5, 10):
            row = open_loop(f"http://127.0.0.1:{slow_server.server_address[1]}", 20, args.duration, 1, users)
            row["allowed"] = round(users * args.duration)  # each user free about once a second
            slow.append(row)
            print(json.dumps(row), flush=True)
    finally:
        slow_server.shutdown()

    print(f"\nTrivial endpoint, {args.duration:g} s per run, max_users 200:\n")
    print("| target /s | processes | offered | started | dropped | achieved /s | achieved / target "
          "| late p50 | late p99 |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in fast:
        print(f"| {r['target']:,.0f} | {r['processes']} | {r['offered']:,} | {r['started']:,} | {r['dropped']:,} "
              f"| {r['achieved']:,.1f} | {r['ratio']:.1%} | {r['late_p50_ms']:.1f} ms | {r['late_p99_ms']:.1f} ms |")  # fmt: skip
    print(f"\nEndpoint taking 1 s per request, 20 arrivals/s for {args.duration:g} s:\n")
    print(
        "| max_users | offered | started | dropped | offered = started + dropped | recorded | started allowed (≈) |"
    )
    print("|---:|---:|---:|---:|:---:|---:|---:|")
    for r in slow:
        exact = "yes" if r["offered"] == r["started"] + r["dropped"] else "NO"
        print(f"| {r['max_users']} | {r['offered']:,} | {r['started']:,} | {r['dropped']:,} | {exact} "
              f"| {r['recorded']:,} | {r['allowed']:,} |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"fast": fast, "slow": slow}, indent=2))


if __name__ == "__main__":
    main()
