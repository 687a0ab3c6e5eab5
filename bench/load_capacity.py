"""Requests/s the harness's Locust path sustains, next to bare Locust, on a trivial loopback endpoint.

The harness path adds, per operation, the scenario context (seeded choice,
unique ids) and one history line written to the journal. Both run in the same
invocation against the same endpoint (a separate uvicorn process), with 1 and
2 Locust processes. The journal's cost is (bare - harness) / bare.

    python bench/load_capacity.py [--duration 15] [--users 40] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paychaos._process import free_port  # noqa: E402
from paychaos.experiment import Load  # noqa: E402
from paychaos.load import LocustProcess, read_history  # noqa: E402


def bare(host: str, users: int, duration: float, processes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "stats"
        cmd = [
            sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "_bare_locustfile.py"), "--headless",
            "--host", host, "-u", str(users), "-r", str(users), "-t", f"{round(duration)}s",
            "--json-file", str(stats_file), "--only-summary", "--loglevel", "ERROR", "--exit-code-on-error", "0",
        ]  # fmt: skip
        if processes > 1:
            cmd += ["--processes", str(processes)]
        subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
        written = next(Path(tmp).glob("stats*"))
        stats = json.loads(written.read_text())
    requests = sum(s["num_requests"] for s in stats)
    span = max(s["last_request_timestamp"] for s in stats) - min(s["start_time"] for s in stats)
    return requests / span


def harness(host: str, users: int, duration: float, processes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        load = Load.model_validate({"users": users, "spawn_rate": users, "duration": f"{duration}s",
                                    "processes": processes, "timeout": "10s"})  # fmt: skip
        locust = LocustProcess(
            Path(tmp), load=load, scenarios={"one": 1}, seed=1, module="bench._load_target", host=host
        )
        locust.start()
        locust.wait(timeout=duration + 60)
        ops = list(read_history(Path(tmp) / "history"))
    span = max(o["end"] for o in ops) - min(o["start"] for o in ops)
    return len(ops) / span


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--rounds", type=int, default=3, help="bare and harness alternate; medians are reported"
    )
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_load_target.py"), str(port)], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    host = f"http://127.0.0.1:{port}"
    try:
        time.sleep(2)  # bench only: let the endpoint come up
        rows = []
        for processes in (1, 2):
            # Alternate the two, several times: on a shared machine the rate drifts from run to run.
            bares, harnesses = [], []
            for _ in range(args.rounds):
                bares.append(bare(host, args.users, args.duration, processes))
                harnesses.append(harness(host, args.users, args.duration, processes))
            b, h = statistics.median(bares), statistics.median(harnesses)
            rows.append(
                {
                    "processes": processes,
                    "bare": round(b),
                    "harness": round(h),
                    "cost": round(1 - h / b, 3),
                    "bare_runs": [round(x) for x in bares],
                    "harness_runs": [round(x) for x in harnesses],
                }
            )
            print(
                f"processes {processes}: bare {b:,.0f} req/s, harness {h:,.0f} req/s (medians of "
                f"{bares and [round(x) for x in bares]} and {[round(x) for x in harnesses]}), cost {1 - h / b:.1%}",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait()
    print("\n| Locust processes | bare Locust req/s | paychaos path req/s | cost of context + journal |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['processes']} | {r['bare']:,} | {r['harness']:,} | {r['cost']:.1%} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
