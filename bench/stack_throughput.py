"""End-to-end payments per second through paystack at saturation, with p50/p99 latency.

Starts the stack (embedded PostgreSQL, no faults, no proxies) and drives
checkouts from a *separate process* (paychaos_targets.paystack.burst) at several
concurrency levels. A checkout is the whole path: merchant → gateway → bank
(double-entry debit) → outbox → notifier → signed webhook → merchant.

    python bench/stack_throughput.py [--duration 20] [--concurrency 32,64,128] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from paychaos.postgres import EmbeddedPostgres  # noqa: E402
from paychaos.system import Stack, load_target  # noqa: E402


def drive(merchant: str, duration: float, concurrency: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "paychaos_targets.paystack.burst", "--merchant", merchant,
         "--duration", str(duration), "--concurrency", str(concurrency), "--json"],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per concurrency level")
    parser.add_argument(
        "--concurrency", default="32,64,128", help="comma-separated client concurrency levels"
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]
    target = load_target(ROOT / "targets" / "paystack" / "target.yaml")
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedPostgres() as pg,
        Stack(target, pg, log_dir=Path(tmp), ports="auto") as stack,
    ):
        merchant = stack.url("merchant")
        drive(merchant, args.warmup, levels[0])
        for level in levels:
            psutil.cpu_percent(percpu=False)  # reset the counter
            t0 = time.monotonic()
            result = drive(merchant, args.duration, level)
            cpu = psutil.cpu_percent(percpu=False)
            result.update(concurrency=level, cpu_percent=cpu, wall_s=round(time.monotonic() - t0, 1))
            rows.append(result)
            print(
                f"concurrency {level:>4}: {result['rate']:>7.1f} checkouts/s  "
                f"p50 {result['p50_ms']:>6.1f} ms  p99 {result['p99_ms']:>7.1f} ms  paid {result['paid']}  "
                f"refused {result['refused']}  errors {result['errors']}  cpu {cpu:.0f}%",
                flush=True,
            )
    machine = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    print("\n| concurrency | checkouts/s | p50 ms | p99 ms | paid | refused (503) | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['rate']:.0f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
            f"{r['paid']} | {r['refused']} | {r['errors']} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
