"""False positives are the worst bug a harness can have: run every experiment many times on the correct stack.

Every run must pass. A failure is printed with its run folder, to be understood
and fixed in the invariant's semantics, never by loosening what it checks.

    python bench/flakiness.py [--runs 10] [--full] [--experiment experiments/hello.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from paychaos.matrix import Case, run_case  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--full", action="store_true", help="the experiments as written, not their quick profile"
    )
    parser.add_argument(
        "--experiment", action="append", type=Path, help="default: every file in experiments/"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "flakiness")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    experiments = args.experiment or sorted((ROOT / "experiments").glob("*.yaml"))
    rows, failures = [], []
    for path in experiments:
        passed, seconds = 0, 0.0
        for n in range(1, args.runs + 1):
            outcome = run_case(Case(path.resolve(), None, ()), out=args.out, quick=not args.full,
                               console=Console(quiet=True))  # fmt: skip
            seconds += outcome.seconds
            if outcome.exit_code == 0:
                passed += 1
            else:
                failures.append(f"{path.stem} run {n}: exit {outcome.exit_code}, "
                                f"{outcome.violated or outcome.error}; see {outcome.run_dir}")  # fmt: skip
                print(failures[-1], flush=True)
        rows.append(
            {
                "experiment": path.stem,
                "runs": args.runs,
                "passed": passed,
                "seconds": round(seconds / args.runs, 1),
            }
        )
        print(f"{path.stem:<28} {passed}/{args.runs} passed, {seconds / args.runs:.0f}s a run", flush=True)
    print("\n| experiment | runs on the correct stack | passed | time a run |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['experiment']} | {r['runs']} | {r['passed']} | {r['seconds']:.0f}s |")
    if args.json:
        args.json.write_text(
            json.dumps({"rows": rows, "failures": failures, "finished": time.time()}, indent=2)
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
