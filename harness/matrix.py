"""The detection matrix: the harness's proof that it catches what it claims to, and nothing else.

Every experiment named by the target's defect switches runs against the
correct stack (it must pass), and each defect's experiment runs with that
defect switched on (it must fail with exit code 1, with the defect's expected
invariants among the violated ones).

    paychaos matrix                      # the sample stack, quick profile
    paychaos matrix --markdown out.md    # the table for the README
"""

from __future__ import annotations

import time
from collections.abc import Iterator
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
    results = RunDir(result.run_dir).read_results_model()
    violated = [v.invariant for v in results.invariants if v.status == "violated"]
    seconds = round(time.monotonic() - started, 1)
    return Outcome(
        case, int(result.exit_code), violated, seconds, result.run_dir, results.error, run_summary(results)
    )


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
