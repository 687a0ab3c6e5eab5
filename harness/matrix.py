"""The detection matrix: the harness's proof that it catches what it claims to, and nothing else.

Every experiment named by the target's defect switches runs against the
correct stack (it must pass), and each defect's experiment runs with that
defect switched on (it must fail with exit code 1, with the defect's expected
invariants among the violated ones).

    paychaos matrix                      # the sample stack, quick profile
    paychaos matrix --markdown out.md    # the table for the README
    paychaos matrix --jobs 2             # two runs at a time, each a process of its own

With ``--jobs N`` above 1, each case is a ``paychaos run`` process of its own, N at a time, in a
folder of its own under ``--out`` (``<experiment>+<defect>/``, with its output in ``run.log``).
Runs at once share the machine: on 2 cores two runs still catch every defect of the sample stack
and pass on the correct one (CI runs the matrix so), but each run's load gets fewer operations
through, so a target whose coverage requirements are tight may need ``--jobs 1``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from paychaos._results import exit_word
from paychaos.errors import ExitCode
from paychaos.experiment import load_experiment
from paychaos.invariants import REGISTRY
from paychaos.report import run_summary
from paychaos.run import RunOptions, run_experiment
from paychaos.rundir import RunDir
from paychaos.system import Target


@dataclass(frozen=True)
class Case:
    experiment: Path
    defect: str | None  # None: the correct stack
    expect: tuple[str, ...]  # invariants that must be violated (none for the correct stack)

    @property
    def label(self) -> str:
        return (
            f"{self.experiment.stem} + {self.defect}" if self.defect else f"{self.experiment.stem} (correct)"
        )


@dataclass
class Outcome:
    case: Case
    exit_code: int
    violated: list[str] = field(default_factory=list)
    seconds: float = 0.0
    run_dir: Path | None = None
    error: str | None = None
    summary: str = ""  # the run's verdict after its word, as `paychaos run` says it

    @property
    def as_expected(self) -> bool:
        if self.case.defect is None:
            return self.exit_code == ExitCode.HELD
        return self.exit_code == ExitCode.VIOLATED and set(self.case.expect) <= set(self.violated)


def cases(target: Target, experiments: list[Path] | None = None) -> Iterator[Case]:
    """Correct-stack runs first (the experiments given and those the defects name), then each defect."""
    named = {(target.root / c.experiment).resolve() for d in target.defects.values() for c in d.catches()}
    for path in sorted({p.resolve() for p in experiments or []} | named):
        yield Case(path, None, ())
    for name, defect in sorted(target.defects.items()):
        for catch in defect.catches():
            yield Case((target.root / catch.experiment).resolve(), name, tuple(catch.invariants))


def run_case(case: Case, *, out: Path, quick: bool, console: Console) -> Outcome:
    started = time.monotonic()
    file = load_experiment(case.experiment, invariants=REGISTRY)
    options = RunOptions(out=out, defects=(case.defect,) if case.defect else (), quick=quick, quiet=True)
    result = run_experiment(file, options, console)
    return _outcome(case, result.run_dir, int(result.exit_code), started)


def _outcome(case: Case, run_dir: Path, exit_code: int, started: float) -> Outcome:
    results = RunDir(run_dir).read_results_model()
    violated = [v.invariant for v in results.invariants if v.status == "violated"]
    seconds = round(time.monotonic() - started, 1)
    return Outcome(case, exit_code, violated, seconds, run_dir, results.error, run_summary(results))


def folder_of(case: Case) -> str:
    """A case's own folder name under ``--out`` when cases run at once: ``hello+slow-bank``."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{case.experiment.stem}+{case.defect or 'correct'}")


def run_apart(case: Case, *, out: Path, quick: bool) -> Outcome:
    """Run one case as a ``paychaos run`` process of its own, in ``out/<case>/`` (its output in
    ``run.log`` there). A run that left no results.json is an outcome with the run's exit code and
    the end of its output as the error."""
    started = time.monotonic()
    folder = out / folder_of(case)
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "paychaos.cli",
        "run",
        str(case.experiment),
        "--out",
        str(folder),
        "--quiet",
    ]
    argv += ["--quick"] if quick else []
    argv += ["--defect", case.defect] if case.defect else []
    log = folder / "run.log"
    with open(log, "wb") as said:
        code = subprocess.run(
            argv, stdin=subprocess.DEVNULL, stdout=said, stderr=subprocess.STDOUT, check=False
        )
    runs = sorted(p.parent for p in folder.glob(f"*/{RunDir.RESULTS}"))
    if not runs:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        return Outcome(case, code.returncode, seconds=round(time.monotonic() - started, 1), run_dir=folder,
                       error=f"no results.json ({' / '.join(tail) or 'no output'}); see {log}")  # fmt: skip
    return _outcome(case, runs[-1], code.returncode, started)


def run_all(cases: Iterable[Case], *, out: Path, quick: bool, jobs: int = 1) -> Iterator[Outcome]:
    """Each case's outcome, in the cases' order, as soon as it (and every one before it) is done.

    ``jobs`` 1: one after the other, in this process. More: that many at once, each a ``paychaos run``
    process of its own (:func:`run_apart`). Closing the iterator early (Ctrl-C) starts no new run
    and waits for the ones running, which stop and heal on the same Ctrl-C.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, got {jobs}")
    if jobs == 1:
        for case in cases:
            yield run_case(case, out=out, quick=quick, console=Console(quiet=True))
        return
    with ThreadPoolExecutor(jobs, thread_name_prefix="matrix") as pool:
        futures = [pool.submit(run_apart, case, out=out, quick=quick) for case in cases]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def markdown(outcomes: list[Outcome]) -> str:
    lines = [
        "| experiment | defect | expected to break | verdict | violated | time | as expected |",
        "|---|---|---|---|---|---:|:---:|",
    ]
    for o in outcomes:
        c = o.case
        lines.append(
            f"| {c.experiment.stem} | {c.defect or '— (correct stack)'} | {', '.join(c.expect) or '—'} | "
            f"{exit_word(o.exit_code)} | {', '.join(o.violated) or '—'} | {o.seconds:.0f}s | "
            f"{'yes' if o.as_expected else '**NO**'} |"
        )
    return "\n".join(lines) + "\n"
