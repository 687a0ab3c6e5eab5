"""Two runs side by side: throughput, error rate and latency per phase, and the verdicts, with the change.

>>> comparison = compare_runs(Path("reports/20261202-101500-hello-baseline"),
...                           Path("reports/20261202-101512-hello"))  # doctest: +SKIP
>>> [p.phase for p in comparison.phases]  # doctest: +SKIP
['steady', 'fault', 'recovery', 'all']
>>> comparison.phases[1].change("p99")  # B − A, in seconds  # doctest: +SKIP
0.2814

The phases are the slo invariant's: *steady* (operations started before the first fault), *fault*
(from it until the last heal) and *recovery* (after it), and *all*, the whole load. The figures are
exact, from each run's history: error rate as the slo invariant counts it (failed or unknown, expected
refusals excluded), latency percentiles as PostgreSQL's ``percentile_cont`` (which it uses), latency
from when an open loop's iteration was due. Each run is split by its own fault journal; a run that
applied no fault (a baseline: the experiment without its faults) is split at the other run's
boundaries, the same seconds after its load started, so its "fault" phase is the same stretch of the
same load, without the fault.

RUN_A is the reference (the baseline), RUN_B the run held against it: a change is B − A.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from paychaos._results_model import ComparedFigures
from paychaos.errors import InvalidInput
from paychaos.rundir import RunDir

PHASES = ("steady", "fault", "recovery")
"""The parts of a load, as the slo invariant splits it."""
WHOLE = "all"
"""The whole load, as one more phase."""
METRICS = ("throughput", "error_rate", "p50", "p95", "p99")
"""What is compared in each phase."""
LATENCIES = ("p50", "p95", "p99")
Split = Literal["own faults", "the other run's faults", "no faults"]


# -- one run's figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """Where a load turns from steady to fault, and from fault to recovery: seconds since it started."""

    fault: float
    """The first fault applied."""
    recovery: float
    """The last heal; ``math.inf`` when a fault was never healed (then there is no recovery)."""

    def phase(self, t: float) -> str:
        """The phase of an operation started ``t`` seconds after the load started (as the slo's SQL)."""
        return "steady" if t < self.fault else "fault" if t <= self.recovery else "recovery"


class Figures(ComparedFigures):
    """One phase of one run: the figures results.json records (:class:`ComparedFigures`), and the
    phase they are of."""

    phase: str

    def get(self, metric: str) -> float | None:
        value: float | None = getattr(self, metric)
        return value

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(exclude={"phase"})


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """PostgreSQL's ``percentile_cont(q)`` over sorted values: linear between the two nearest ranks.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5), percentile([], 0.99)
    (2.5, None)
    """
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def figures(
    operations: Iterable[Mapping[str, Any]],
    load_start: float,
    bounds: Bounds | None,
    *,
    load_seconds: float | None = None,
    kind: str | None = None,
) -> list[Figures]:
    """Each phase's figures (only the phases some operation started in), then the whole load's.

    ``load_seconds``: how long the load ran (results.json's load.seconds); the last operation's end when
    not given. ``kind``: only operations of this kind (as the slo invariant's ``kind``).
    """
    latencies: dict[str, list[float]] = {p: [] for p in PHASES}
    errors = dict.fromkeys(PHASES, 0)
    last = 0.0
    for op in operations:
        if kind is not None and op.get("kind") != kind:
            continue
        start, end = float(op["start"]), float(op["end"])
        phase = bounds.phase(start - load_start) if bounds else "steady"
        latencies[phase].append(end - float(op.get("intended") or start))
        errors[phase] += op.get("outcome") != "ok" and not op.get("expected", False)
        last = max(last, end - load_start)
    end = load_seconds if load_seconds else last
    cuts = (0.0, *((min(bounds.fault, end), min(bounds.recovery, end)) if bounds else (end, end)), end)
    spans = {p: cuts[i + 1] - cuts[i] for i, p in enumerate(PHASES)}
    found = [_figures(p, latencies[p], errors[p], spans[p]) for p in PHASES if latencies[p]]
    if found:
        every = [x for p in PHASES for x in latencies[p]]
        found.append(_figures(WHOLE, every, sum(errors.values()), end))
    return found


def _figures(phase: str, latencies: list[float], errors: int, seconds: float) -> Figures:
    latencies.sort()
    n = len(latencies)
    span = round(seconds, 3) if seconds > 0 else None
    p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    return Figures(
        phase=phase, operations=n, seconds=span, throughput=n / seconds if seconds > 0 else None,
        error_rate=errors / n if n else None, p50=p50, p95=p95, p99=p99,
    )  # fmt: skip


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class RunSide:
    """One run of a comparison: its folder and its results (results.json, or what is about to be it)."""

    path: Path
    results: Mapping[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.results.get("run_id") or self.path.name)

    @property
    def experiment(self) -> Mapping[str, Any]:
        return self.results.get("experiment") or {}

    @property
    def name(self) -> str:
        return str(self.experiment.get("name") or "?")

    @property
    def verdict(self) -> str:
        return str(self.results.get("verdict") or "error")

    @property
    def load_start(self) -> float | None:
        at = self.results.get("load_started_at")
        return None if at is None else float(at)

    @cached_property
    def bounds(self) -> Bounds | None:
        """The phases' boundaries from its own fault journal, as the slo invariant splits them; None when
        it applied no fault (or never started its load)."""
        windows = _fault_windows(RunDir(self.path))
        starts = [t for t in (_epoch(w.applied.get("at")) for w in windows) if t is not None]
        t0 = self.load_start
        if not starts or t0 is None:
            return None
        ends = [None if w.healed is None else _epoch(w.healed.get("at")) for w in windows]
        last = math.inf if any(e is None for e in ends) else max(e for e in ends if e is not None) - t0
        return Bounds(min(starts) - t0, last)

    @property
    def faults_applied(self) -> int:
        return sum(f.get("applied_at") is not None for f in self.results.get("faults") or [])

    def figures(self, bounds: Bounds | None, *, kind: str | None = None) -> list[Figures]:
        """Its figures per phase, split at ``bounds``; none when its load never started."""
        t0 = self.load_start
        if t0 is None:
            return []
        seconds = (self.results.get("load") or {}).get("seconds")
        operations = RunDir(self.path).read_history()
        return figures(operations, t0, bounds, load_seconds=seconds, kind=kind)

    def verdicts(self) -> list[tuple[str, str, int]]:
        """(invariant, status, count) of each invariant it checked."""
        return [(str(v.get("invariant")), str(v.get("status")), int(v.get("count") or 0))
                for v in self.results.get("invariants") or []]  # fmt: skip


def _fault_windows(folder: RunDir) -> list[Any]:
    from paychaos.faults import fault_windows

    return fault_windows(folder.read_journal())


def read_run(path: Path) -> RunSide:
    """A finished run's folder; InvalidInput (exit 2), saying why, when it is no run or never finished."""
    from pydantic import ValidationError

    from paychaos.report._rebuild import check_run_folder

    path = Path(path)
    check_run_folder(path)
    folder = RunDir(path)
    try:
        folder.read_results_model()
        return RunSide(path, folder.read_results())
    except FileNotFoundError:
        raise InvalidInput(
            f"{path} holds no {RunDir.RESULTS}: the run never finished (killed, or still running); "
            f"there is nothing to compare (`paychaos report {path}` shows what it left)"
        ) from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise InvalidInput(f"{folder.results}: not a results.json this paychaos reads ({where}: "
                           f"{first['msg']})") from None  # fmt: skip
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{folder.results}: unreadable ({exc})") from None


# -- two runs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhasePair:
    """One phase of both runs; a side is None when none of its operations started in the phase."""

    phase: str
    a: Figures | None
    b: Figures | None

    def values(self, metric: str) -> tuple[float | None, float | None]:
        return (self.a.get(metric) if self.a else None, self.b.get(metric) if self.b else None)

    def change(self, metric: str) -> float | None:
        """B − A."""
        a, b = self.values(metric)
        return None if a is None or b is None else b - a

    def ratio(self, metric: str) -> float | None:
        """B / A (None when A is 0)."""
        a, b = self.values(metric)
        return None if a is None or b is None or a == 0 else b / a

    def as_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "a": self.a.as_json() if self.a else None,
            "b": self.b.as_json() if self.b else None,
            "change": {m: self.change(m) for m in METRICS},
            "ratio": {m: self.ratio(m) for m in METRICS},
        }


@dataclass(frozen=True)
class VerdictPair:
    """One invariant's verdict in each run: (status, count), None when that run did not check it."""

    invariant: str
    a: tuple[str, int] | None
    b: tuple[str, int] | None

    def as_json(self) -> dict[str, Any]:
        def side(v: tuple[str, int] | None) -> dict[str, Any] | None:
            return None if v is None else {"status": v[0], "count": v[1]}

        return {"invariant": self.invariant, "a": side(self.a), "b": side(self.b)}


@dataclass(frozen=True)
class Comparison:
    a: RunSide
    b: RunSide
    a_split: Split
    b_split: Split
    phases: list[PhasePair]
    invariants: list[VerdictPair]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        def side(run: RunSide, split: Split) -> dict[str, Any]:
            return {"run_dir": str(run.path), "run_id": run.run_id, "experiment": run.name,
                    "verdict": run.verdict, "exit_code": run.results.get("exit_code"),
                    "faults": run.faults_applied, "split": split}  # fmt: skip

        return {
            "a": side(self.a, self.a_split),
            "b": side(self.b, self.b_split),
            "phases": [p.as_json() for p in self.phases],
            "invariants": [v.as_json() for v in self.invariants],
            "notes": self.notes,
        }


def compare(a: RunSide, b: RunSide, *, kind: str | None = None) -> Comparison:
    """A (the reference) and B side by side. Each is split by its own faults; one that applied none, at
    the other's boundaries."""
    a_bounds, a_split = _split(a.bounds, b.bounds)
    b_bounds, b_split = _split(b.bounds, a.bounds)
    a_figures = {f.phase: f for f in a.figures(a_bounds, kind=kind)}
    b_figures = {f.phase: f for f in b.figures(b_bounds, kind=kind)}
    phases = [PhasePair(p, a_figures.get(p), b_figures.get(p))
              for p in (*PHASES, WHOLE) if p in a_figures or p in b_figures]  # fmt: skip
    a_verdicts = {n: (s, c) for n, s, c in a.verdicts()}
    b_verdicts = {n: (s, c) for n, s, c in b.verdicts()}
    names = list(dict.fromkeys([*a_verdicts, *b_verdicts]))
    invariants = [VerdictPair(n, a_verdicts.get(n), b_verdicts.get(n)) for n in names]
    return Comparison(a, b, a_split, b_split, phases, invariants, _notes(a, b))


def compare_runs(a: Path, b: Path) -> Comparison:
    """Two run folders side by side; InvalidInput (exit 2) when either is no finished run."""
    return compare(read_run(a), read_run(b))


def _split(own: Bounds | None, other: Bounds | None) -> tuple[Bounds | None, Split]:
    if own is not None:
        return own, "own faults"
    return (other, "the other run's faults") if other is not None else (None, "no faults")


def _notes(a: RunSide, b: RunSide) -> list[str]:
    """What makes the two runs less than like for like."""
    notes = []
    if a.name != b.name:
        notes.append(f"different experiments: A is {a.name}, B is {b.name}")
    for key, what in (("seed", "seeds"), ("quick", "profiles (--quick)")):
        if a.experiment.get(key) != b.experiment.get(key):
            notes.append(f"different {what}: A {a.experiment.get(key)}, B {b.experiment.get(key)}")
    a_defects = (a.results.get("target") or {}).get("defects") or []
    b_defects = (b.results.get("target") or {}).get("defects") or []
    if sorted(a_defects) != sorted(b_defects):
        said = [", ".join(d) or "none" for d in (a_defects, b_defects)]
        notes.append(f"different defects: A {said[0]}, B {said[1]}")
    for label, run in (("A", a), ("B", b)):
        status = run.results.get("status")
        if status != "completed":
            notes.append(f"{label} did not complete (status {status}): its figures cover what ran")
    return notes


# -- the slo invariant's vs_baseline gate --------------------------------------------------------


def check_gate(
    run: Sequence[Mapping[str, Any]],
    baseline: Sequence[Figures],
    limits: Mapping[str, float | None],
    phases: Iterable[str],
) -> list[dict[str, Any]]:
    """The violations of a gate against a baseline, one row per phase and metric beyond it.

    ``run``: this run's figures per phase (the slo invariant's ``details.phases`` rows); ``limits``:
    p50, p95, p99 as a factor of the baseline's (2.0: at most twice), error_rate as how much higher it
    may be (0.01: one percentage point). A phase either run has no operation in is not judged.
    """
    theirs = {f.phase: f for f in baseline}
    rows = []
    for row in run:
        phase = str(row.get("phase"))
        base = theirs.get(phase)
        if phase not in phases or base is None:
            continue
        for metric, allowed in limits.items():
            value, was = row.get(metric), base.get(metric)
            if allowed is None or value is None or was is None:
                continue
            limit = was + allowed if metric == "error_rate" else was * allowed
            if value > limit:
                rows.append({"phase": phase, "metric": metric, "value": value, "baseline": was,
                             "limit": limit, "gate": gate_words(metric, allowed),
                             "operations": row.get("operations")})  # fmt: skip
    return rows


def gate_words(metric: str, allowed: float) -> str:
    """A gate as the experiment says it: ``2x``, ``+1%``.

    >>> gate_words("p99", 2.0), gate_words("error_rate", 0.01)
    ('2x', '+1%')
    """
    return f"+{allowed * 100:g}%" if metric == "error_rate" else f"{allowed:g}x"


def gate_reason(row: Mapping[str, Any]) -> str:
    """A gate's violation in words, naming the phase and both numbers."""
    metric, value, was = str(row["metric"]), row["value"], row["baseline"]
    if metric == "error_rate":
        beyond = f"more than {row['gate'].lstrip('+')} points above"
    else:
        beyond = f"more than {row['gate'].rstrip('x')}× the baseline's"
    limit = format_value(metric, row["limit"])
    return (f"{row['phase']}: {metric} {format_value(metric, value)} vs the baseline's "
            f"{format_value(metric, was)} ({beyond}, at most {limit})")  # fmt: skip


# -- results.json's baseline ---------------------------------------------------------------------

_SPLIT_WORDS = {
    "own faults": "own faults",
    "the other run's faults": "this run's faults",
    "no faults": "no faults",
}


def baseline_record(
    run_dir: Path, results: Mapping[str, Any], baseline: Path, *, auto: bool
) -> dict[str, Any]:
    """results.json's ``baseline``: the baseline's folder and verdicts, and both runs' figures per phase."""
    base = read_run(baseline)
    comparison = compare(base, RunSide(Path(run_dir), results))
    try:
        link = os.path.relpath(Path(baseline).resolve(), Path(run_dir).resolve())
    except ValueError:  # another drive
        link = str(Path(baseline).resolve())
    return {
        "run_dir": str(baseline),
        "link": Path(link).as_posix(),
        "run_id": base.run_id,
        "auto": auto,
        "experiment": base.name,
        "verdict": base.verdict,
        "faults": base.faults_applied,
        "split": _SPLIT_WORDS[comparison.a_split],
        "phases": [
            {
                "phase": p.phase,
                "run": p.b.as_json() if p.b else None,
                "baseline": p.a.as_json() if p.a else None,
            }
            for p in comparison.phases
        ],
        "invariants": [{"invariant": n, "status": s, "count": c} for n, s, c in base.verdicts()],
    }


# -- words ---------------------------------------------------------------------------------------

LABELS = {"throughput": "throughput", "error_rate": "error rate", "p50": "p50", "p95": "p95", "p99": "p99"}


def format_value(metric: str, value: float | None) -> str:
    """A figure for people: ``12.3/s``, ``0.50%``, ``301.2 ms``; ``—`` when there is none."""
    if value is None:
        return "—"
    if metric == "throughput":
        return f"{value:.1f}/s"
    if metric == "error_rate":
        return f"{value:.2%}"
    return f"{value * 1000:.1f} ms"


def format_change(metric: str, a: float | None, b: float | None) -> str:
    """B − A for people: ``+0.35 pt``, ``+612.0 ms (×3.03)``, ``-2.1/s (-4%)``; ``—`` when a side has none."""
    if a is None or b is None:
        return "—"
    change = b - a
    if metric == "error_rate":
        return f"{change * 100:+.2f} pt"
    if metric == "throughput":
        return f"{change:+.1f}/s" + (f" ({change / a:+.0%})" if a else "")
    return f"{change * 1000:+.1f} ms" + (f" (×{b / a:.2f})" if a else "")


def worse(metric: str, a: float | None, b: float | None) -> bool:
    """Whether B is worse than A: slower, more errors, less throughput."""
    if a is None or b is None:
        return False
    return b < a if metric == "throughput" else b > a
