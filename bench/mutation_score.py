"""How many realistic payment bugs the shipped experiments catch: the mutation score.

Each mutant in ``bench/mutants/`` is one small patch to the sample stack that
introduces a bug a payment engineer would recognise (its first line says
which). For each one, a copy of this working tree is made, the patch applied,
and the experiments run one after the other (quick profile) until one exits 1:
the mutant is caught, by that experiment and the invariants it names. A mutant
no experiment catches survived; a run that exits 3 is no catch (the harness
could not judge) and is shown as such.

    python bench/mutation_score.py                         # every mutant, every experiment
    python bench/mutation_score.py --mutant bench/mutants/03-*.patch --all
    python bench/mutation_score.py --baseline              # the unmutated copy must pass everything

``--all`` runs every experiment for every mutant (which experiments catch it, not
just the first); ``--json PATH`` keeps the table as data. The copy runs with
this interpreter and the copy's own source first on the path.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "bench" / "mutants"
# Broad experiments first: most mutants are caught by the first one or two.
ORDER = ["hello", "double-debit-retry-storm", "peak-overload", "connection-resets", "notification-outage",
         "payout-timeout-failover", "credit-limit-race", "promo-misconfig"]  # fmt: skip


@dataclass
class Run:
    experiment: str
    exit_code: int
    violated: list[str]
    seconds: float
    note: str = ""


@dataclass
class Outcome:
    mutant: str
    models: str
    runs: list[Run] = field(default_factory=list)

    @property
    def caught_by(self) -> list[Run]:
        return [r for r in self.runs if r.exit_code == 1]

    @property
    def seconds(self) -> float:
        return round(sum(r.seconds for r in self.runs), 1)


def describe(patch: Path) -> str:
    first = patch.read_text().splitlines()[0] if patch.stat().st_size else ""
    return first.removeprefix("#").strip() if first.startswith("#") else ""


def copy_tree(dest: Path) -> None:
    """This working tree as it is (uncommitted changes included), without its venv and reports."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def run_experiment(tree: Path, experiment: Path, out: Path) -> Run:
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(tree), "CI": "true"}
    proc = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "run", str(experiment), "--quick", "--quiet", "--out", str(out)],
        cwd=tree, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    seconds = round(time.monotonic() - started, 1)
    runs = sorted(out.glob(f"*-{experiment.stem}*/results.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(runs[-1].read_text()) if runs else {}
    violated = [v["invariant"] for v in results.get("invariants", []) if v["status"] == "violated"]
    note = "" if proc.returncode in (0, 1) else str(results.get("error") or proc.stderr.strip()[-300:])
    return Run(experiment.stem, proc.returncode, violated, seconds, note)


def judge(patch: Path | None, base: Path, experiments: list[Path], *, every: bool, keep: bool) -> Outcome:
    name = patch.name if patch else "(none: the correct stack)"
    outcome = Outcome(name, describe(patch) if patch else "baseline")
    scratch = Path(tempfile.mkdtemp(prefix="paychaos-mutant-"))
    try:
        tree = scratch / "tree"
        shutil.copytree(base, tree)
        if patch is not None:
            applied = subprocess.run(["git", "apply", str(patch)], cwd=tree, capture_output=True, text=True)
            if applied.returncode != 0:
                outcome.runs.append(Run("-", 2, [], 0.0, f"patch does not apply: {applied.stderr.strip()}"))
                return outcome
        for experiment in experiments:
            run = run_experiment(tree, tree / "experiments" / experiment.name, scratch / "reports")
            outcome.runs.append(run)
            print(f"  {experiment.stem:<26} exit {run.exit_code} {', '.join(run.violated)} {run.note}".rstrip(),
                  f"({run.seconds:.0f}s)", flush=True)  # fmt: skip
            if run.exit_code == 1 and not every and patch is not None:
                break
    finally:
        if keep:
            print(f"  kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = ["| mutant | what it models | caught by | time |", "|---|---|---|---:|"]
    for o in outcomes:
        caught = "; ".join(f"{r.experiment}: {', '.join(r.violated)}" for r in o.caught_by)
        if not caught:
            notes = "; ".join(
                f"{r.experiment}: exit {r.exit_code} {r.note}".strip() for r in o.runs if r.note
            )
            caught = "**survived**" + (f" ({notes})" if notes else "")
        lines.append(f"| {o.mutant.removesuffix('.patch')} | {o.models} | {caught} | {o.seconds:.0f}s |")
    caught_n = sum(1 for o in outcomes if o.caught_by)
    lines.append("")
    lines.append(f"**{caught_n} of {len(outcomes)} caught ({100 * caught_n / max(1, len(outcomes)):.0f}%)**")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutant", action="append", type=Path, help="default: every bench/mutants/*.patch")
    parser.add_argument("--experiment", action="append", type=Path, help="default: every experiments/*.yaml")
    parser.add_argument("--all", action="store_true", help="run every experiment, not only until one catches")
    parser.add_argument("--baseline", action="store_true", help="run the unmutated stack instead")
    parser.add_argument("--keep", action="store_true", help="keep each mutant's copy and run folders")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    args = parser.parse_args()
    found = sorted((ROOT / "experiments").glob("*.yaml"))
    rank = {name: i for i, name in enumerate(ORDER)}
    experiments = args.experiment or sorted(found, key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))
    mutants: list[Path | None] = [None] if args.baseline else [
        p.resolve() for p in (args.mutant or sorted(MUTANTS.glob("*.patch")))]  # fmt: skip
    outcomes = []
    started = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="paychaos-mutants-base-")) / "tree"
    copy_tree(base)  # one snapshot: edits made while the bench runs do not leak into later mutants
    try:
        for patch in mutants:
            print(f"{patch.name if patch else 'baseline'}: {describe(patch) if patch else ''}", flush=True)
            outcomes.append(judge(patch, base, experiments, every=args.all, keep=args.keep))
    finally:
        shutil.rmtree(base.parent, ignore_errors=True)
    print()
    print(table(outcomes))
    print(f"\n{len(outcomes)} mutant(s) in {(time.monotonic() - started) / 60:.1f} min")
    if args.json:
        args.json.write_text(
            json.dumps([{**asdict(o), "caught": bool(o.caught_by)} for o in outcomes], indent=2)
        )
    if args.baseline:
        sys.exit(0 if all(r.exit_code == 0 for o in outcomes for r in o.runs) else 1)


if __name__ == "__main__":
    main()
