"""What a run has found so far, passed from phase to phase, and its phases' timings.

The record is immutable: a phase returns what it found, and the composition in
``_runner.run_experiment`` makes the next record with ``dataclasses.replace``.
The one part filled in as it happens is the load's (``LoadRun``), so that a run
interrupted mid-load still reports when its load began and which faults ran.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from paychaos._results import verdict_word
from paychaos.errors import ExitCode
from paychaos.faults import Backend, FaultInjector
from paychaos.faults.kinds import FaultContext
from paychaos.invariants import Count, EvidenceStore, RunWindow, Verdict
from paychaos.invariants._violations import summary as violations_summary
from paychaos.load import arrival_totals
from paychaos.postgres import Server
from paychaos.run._guards import Trip
from paychaos.run._plan import RunPlan, not_checked
from paychaos.run._progress import Progress
from paychaos.run._schedule import FaultSchedule
from paychaos.system import Stack


@dataclass(frozen=True)
class Wiring:
    """What "target up" started, for the phases after it (all of it stopped when the run ends)."""

    server: Server
    backend: Backend
    stack: Stack
    store: EvidenceStore
    injector: FaultInjector
    faults: FaultContext  # what a fault kind needs to build its fault in this run


@dataclass
class SettleLog:
    """The settle phase's rounds, filled in as they happen: each eventual invariant's violations per round
    (results.json's ``settle``, the report's convergence chart)."""

    healed_at: float  # epoch seconds: time zero of the rounds and the deadlines
    deadlines: dict[str, float]  # each eventual invariant: seconds after the heal it must hold by
    polls: list[dict[str, Any]] = field(default_factory=list)

    def round(self, at: float, verdicts: list[Verdict]) -> None:
        """One round: its snapshot's time (epoch seconds) and the verdicts checked over it."""
        counts = {v.invariant: None if v.status == "could_not_check" else v.count for v in verdicts}
        self.polls.append({"at": round(at - self.healed_at, 3), "violations": counts})

    def as_json(self) -> dict[str, Any]:
        return {"healed_at": self.healed_at, "deadlines": dict(self.deadlines), "polls": list(self.polls)}


@dataclass
class LoadRun:
    """The load phase's outcome, filled in as it happens (and the settle phase's rounds after it)."""

    schedule: FaultSchedule
    started_at: float | None = None  # the first operation, epoch seconds: t = 0 of the schedule
    trip: Trip | None = None  # the guard that stopped the injection, if one did
    summary: dict[str, Any] = field(default_factory=dict)
    healed_at: float | None = None
    settle: SettleLog | None = None  # once the settle phase began
    traffic: dict[str, Any] | None = None  # what each link's proxy carried, read at the heal

    def window(self) -> RunWindow:
        healed = self.healed_at or time.time()
        return RunWindow(self.started_at or healed, healed, healed)


@dataclass(frozen=True)
class RunRecord:
    plan: RunPlan
    started_at: float
    versions: Mapping[str, str]
    backend: Backend | None = None
    load: LoadRun | None = None
    verdicts: tuple[Verdict, ...] = ()
    coverage: tuple[Count, ...] = ()

    def results(self, phases: PhaseLog, status: str, error: str | None, code: ExitCode) -> dict[str, Any]:
        """results.json (see harness/_results_model.py)."""
        exp, plan, load = self.plan.experiment, self.plan, self.load
        coverage = [c.as_json() for c in self.coverage]
        return {
            "run_id": plan.run_id,
            "status": status,
            "verdict": verdict_word(code, coverage),
            "exit_code": int(code),
            "error": error,
            "experiment": {
                "name": exp.name,
                "description": exp.description,
                "file": str(plan.file.path),
                "seed": exp.seed,
                "quick": plan.options.quick,
            },
            "target": {"name": plan.target.name, "defects": list(plan.defects), "currency": self._currency()},
            "command": plan.rerun_command(),
            "started_at": self.started_at,
            "ended_at": time.time(),
            "load_started_at": load.started_at if load else None,
            "phases": phases.records,
            "load": self._load_summary(),
            "faults": load.schedule.as_json() if load else [],
            "guard": load.trip.as_json() if load and load.trip else None,
            "invariants": [v.as_json() for v in self.verdicts],
            "not_checked": not_checked(exp, plan.target),
            "violations": violations_summary(plan.folder, self.verdicts),
            "settle": load.settle.as_json() if load and load.settle else None,
            "coverage": coverage,
            "backend": self.backend.describe() if self.backend else None,
            "traffic": load.traffic if load else None,
            "versions": dict(self.versions),
            "baseline": None,  # _runner._finish compares with the plan's baseline, when it has one
        }

    def _currency(self) -> dict[str, Any] | None:
        currency = self.plan.target.currency
        return None if currency is None else {"code": currency.code, "minor_unit": currency.minor_unit}

    def _load_summary(self) -> dict[str, Any]:
        """results.json's load: the load phase's summary and, for an open loop, its arrivals.

        The arrivals are counted from the history's ``arrivals`` lines, which every Locust
        process writes (one a second), so those of remote workers count too.
        """
        if self.load is None or not self.load.summary:
            return {}
        summary = dict(self.load.summary)
        spec = self.plan.experiment.load
        if spec.open_loop:
            summary["arrival_rate"] = spec.arrival_rate or spec.peak_rate
            totals = arrival_totals(self.plan.folder.history)
            if totals is not None:
                summary.update(offered=totals.offered, started=totals.started, dropped=totals.dropped)
        return summary


class PhaseLog:
    """Each phase's name, start, end and status, as results.json lists them; shown as they start."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.records: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def __call__(self, name: str, detail: str = "") -> Iterator[None]:
        record: dict[str, Any] = {"name": name, "started": time.time(), "ended": None, "status": "running"}
        self.records.append(record)
        self.progress.phase(name, detail)
        try:
            yield
            record["status"] = "done"
        except BaseException:
            record["status"] = "failed"
            raise
        finally:
            record["ended"] = time.time()
