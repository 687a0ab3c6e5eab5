"""The HTML report of an hour-long run: a million history lines, streamed into a small file.

Writes a history of ``--seconds`` × ``--per-second`` operations (two load
processes, as ``--processes 2`` would), then builds report.html from it in a
fresh child process and reports the time taken, the child's own peak memory
(VmHWM: its resident high-water mark, not the parent's) and the sizes.

    python bench/report_scale.py [--seconds 4000] [--per-second 250] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "harness" / "report" / "fixtures" / "passing-hello"


def write_history(folder: Path, *, seconds: int, per_second: int, t0: float) -> int:
    """``seconds × per_second`` operations in two files, fast: one second of lines as a template, reused with
    each second's epoch. Every 50th operation fails, every 97th times out, every 31st is an expected refusal."""
    folder.mkdir(parents=True)
    written = 0
    for process in range(2):
        template = []
        for i in range(per_second // 2):
            start = 0.6 * i / (per_second // 2)
            latency = 0.004 + (i * 7919 % 1000) / 1000 * 0.39
            outcome, expected = "ok", "false"
            if i % 50 == 0:
                outcome = "failed"
            elif i % 97 == 0:
                outcome = "timeout"
            elif i % 31 == 0:
                outcome, expected = "failed", "true"
            template.append(
                f'{{"id":"op-{process}-@SECOND@-{i}","kind":"{("pay", "pay_retry", "refund", "payout")[i % 4]}",'
                f'"order_id":"order-{process}-@SECOND@-{i}","key":"order:order-{process}-@SECOND@-{i}",'
                f'"amount":{1000 + i},"start":@SECOND@.{round(start * 1e6):06d},"end":@SECOND@.'
                f'{round((start + latency) * 1e6):06d},"outcome":"{outcome}","status":200,"payment_id":null,'
                f'"payment_state":"SUCCEEDED","error":null,"expected":{expected}}}\n'
            )
        block = "".join(template)
        with open(folder / f"load-{process}.jsonl", "w") as out:
            out.write(json.dumps({"event": "start", "at": t0, "pid": process, "process": process}) + "\n")
            for second in range(seconds):
                out.write(block.replace("@SECOND@", str(int(t0) + second)))
        written += seconds * len(template)
    return written


def long_run(into: Path, *, seconds: int, per_second: int) -> tuple[Path, int]:
    """A copy of a real (short) run whose history is replaced by a generated one of ``seconds``."""
    run = Path(shutil.copytree(SAMPLE, into))
    results = json.loads((run / "results.json").read_text())
    t0 = float(int(results["load_started_at"]))
    shutil.rmtree(run / "history")
    operations = write_history(run / "history", seconds=seconds, per_second=per_second, t0=t0)
    results.update(
        load_started_at=t0, load={"operations": operations, "errors": 0, "seconds": float(seconds)}
    )
    (run / "results.json").write_text(json.dumps(results))
    return run, operations


_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from paychaos.report import write_html
    started = time.monotonic()
    write_html(Path({run!r}))
    seconds = time.monotonic() - started
    status = Path("/proc/self/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(seconds, hwm)
""")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=4000, help="length of the generated run")
    parser.add_argument("--per-second", type=int, default=250, help="operations per second")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paychaos-report-scale-") as tmp:
        generated = time.monotonic()
        run, operations = long_run(Path(tmp) / "run", seconds=args.seconds, per_second=args.per_second)
        history_mib = sum(p.stat().st_size for p in (run / "history").iterdir()) / 2**20
        print(f"{operations:,} operations, {history_mib:.0f} MiB of history, "
              f"written in {time.monotonic() - generated:.1f} s; building the report…", flush=True)  # fmt: skip
        child = _CHILD.format(root=str(ROOT), run=str(run))
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
        seconds, peak_kib = out.split()
        report_mib = (run / "report.html").stat().st_size / 2**20
    figures = {
        "operations": operations,
        "history_mib": round(history_mib, 1),
        "seconds": round(float(seconds), 1),
        "peak_mib": round(int(peak_kib) / 1024, 1),
        "report_mib": round(report_mib, 2),
        "operations_per_second": round(operations / float(seconds)),
    }
    print("| operations | history | build time | peak memory | report.html |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {operations:,} | {figures['history_mib']} MiB | {figures['seconds']} s | "
          f"{figures['peak_mib']} MiB | {figures['report_mib']} MiB |")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
