"""A finished (or broken) run folder as the report reads it: results, fault journal, aggregated history.

If results.json is missing or unreadable (the run was killed before writing
it), a minimal results structure is rebuilt from what the run left: the
history, the fault journal and experiment.yaml. It says status
``interrupted`` and checks no invariant.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from paychaos import __version__
from paychaos._results import VERDICT_WORDS
from paychaos._results_model import SCHEMA_VERSION, FaultRecord, Results
from paychaos.durations import parse_duration
from paychaos.errors import ExitCode, InvalidInput
from paychaos.experiment import Load
from paychaos.faults import fault_windows
from paychaos.load import users_at
from paychaos.report._timeline import Timeline, read_timeline
from paychaos.rundir import RunDir


@dataclass
class Run:
    dir: Path
    results: dict[str, Any]  # results.json as read (or rebuilt), for the report's tolerant rendering
    model: Results  # the same, as a model
    timeline: Timeline
    journal: list[dict[str, Any]] = field(default_factory=list)
    rebuilt: bool = False  # results.json was missing or unreadable; ``results`` was made from the journals
    notes: list[str] = field(default_factory=list)  # what a reader should know first

    @property
    def t0(self) -> float | None:
        """The load's start, epoch seconds: time zero of the timeline."""
        return self.timeline.t0

    def fault_marks(self) -> list[dict[str, Any]]:
        """Each fault's id, label and window in seconds since the load started (end None: never healed)."""
        marks = []
        for fault in self.results.get("faults") or []:
            if fault.get("applied_at") is None:
                continue
            healed = fault.get("healed_at")
            label = fault.get("label") or fault.get("id") or "fault"
            end = None if healed is None else float(healed)
            start = float(fault["applied_at"])
            marks.append({"id": fault.get("id"), "label": label, "start": start, "end": end})
        return marks

    @functools.cached_property
    def users(self) -> list[tuple[float, int]] | None:
        """A closed loop's users from each time on (seconds since the load started), as its shape and
        spawn rate set them (load.json: the load as run); None for an open loop, or without load.json."""
        try:
            spec = json.loads(RunDir(self.dir).load_spec.read_text(encoding="utf-8"))
            load = Load.model_validate(spec["load"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        return None if load.open_loop else spawned_users(load)

    def phase_marks(self) -> list[dict[str, Any]]:
        if self.t0 is None:
            return []
        return [{"name": p["name"], "start": round(float(p["started"]) - self.t0, 3)}
                for p in self.results.get("phases") or [] if p.get("started") is not None]  # fmt: skip


def spawned_users(load: Load) -> list[tuple[float, int]]:
    """Each change of a closed loop's user count: (seconds since the load started, users from then on).

    Users follow the shape's count at its spawn rate (a spike's surplus arrives within a second),
    as Locust spawns and stops them, and all stop when the load ends.
    """
    step = max(0.1, load.total_duration / 5000)
    points: list[tuple[float, int]] = []
    users, k = 0.0, 0
    while (wanted := users_at(load, k * step)) is not None:
        count, rate = wanted
        users = min(count, users + rate * step) if users < count else max(count, users - rate * step)
        if not points or points[-1][1] != int(users):
            points.append((round(k * step, 3), int(users)))
        k += 1
    points.append((round(load.total_duration, 3), 0))
    return points


def load_run(run_dir: Path) -> Run:
    """Read a run folder; stream its history once."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InvalidInput(f"{run_dir}: no such run folder")
    folder = RunDir(run_dir)
    journal = folder.read_journal()
    notes: list[str] = []
    results, model, problem = _read_results(folder)
    if results is not None and model is not None:
        t0 = model.load_started_at
        window = _fault_window(journal) or _fault_window_from_results(model)
        timeline = read_timeline(
            folder.history, t0=t0, fault_window=window, expected_seconds=model.load.seconds
        )
        run = Run(run_dir, results, model, timeline, journal)
    else:
        timeline = read_timeline(folder.history, fault_window=_fault_window(journal))
        rebuilt = _reconstruct(run_dir, journal, timeline, problem)
        run = Run(run_dir, rebuilt, Results.model_validate(rebuilt), timeline, journal, rebuilt=True)
        stopped = "the run stopped before writing its results (killed or crashed)"
        if results is not None:
            stopped = f"it is not a results.json of schema version {SCHEMA_VERSION} (an older paychaos's?)"
        notes.append(
            f"{problem}: {stopped}. This report was "
            "rebuilt from the history, the fault journal and experiment.yaml; no invariant was checked, "
            "and the command and versions below are reconstructions."
        )
    if run.results.get("status") == "completed":  # else a guard, or the user, cut every fault short
        notes += [note for note in map(_ran_short, run.model.faults) if note]
    windows = fault_windows(journal)
    left = [w.applied for w in windows if w.settled is None]
    if left:
        what = ", ".join(f"{e.get('id')} ({e.get('target')}: {e.get('action')})" for e in left)
        notes.append(f"The fault journal shows faults applied and never healed: {what}. "
                     f"Run `paychaos heal {run_dir}` before the next run.")  # fmt: skip
    for fault in windows:
        if fault.how == "abandoned" and fault.settled is not None:
            notes.append(f"Healing fault {fault.id} was given up: {fault.settled.get('reason')}.")
    if folder.evidence_error.is_file():
        why = folder.evidence_error.read_text(encoding="utf-8", errors="replace").strip()
        notes.append(f"The evidence could not be saved in {RunDir.EVIDENCE}/ ({why}); the verdicts stand, "
                     "but `paychaos verify` cannot check this run again.")  # fmt: skip
    if timeline.skipped_lines:
        notes.append(f"{timeline.skipped_lines} history line(s) could not be read (torn or not JSON) and "
                     "were left out.")  # fmt: skip
    run.notes = notes
    return run


# A fault in place for less than this share of its scheduled duration, and this many seconds less,
# is said to have run short: below both, it is the schedule's tick (0.1 s) and a toxic's API call.
_SHORT_SHARE = 0.8
_SHORT_SECONDS = 0.25


def _ran_short(fault: FaultRecord) -> str:
    """A note when a fault of a completed run was in place much less than scheduled; "" otherwise."""
    duration = fault.spec.get("duration")
    if fault.applied_at is None or fault.healed_at is None or not isinstance(duration, str):
        return ""
    try:
        planned, at = parse_duration(duration), parse_duration(str(fault.spec.get("at")))
    except ValueError:
        return ""
    in_place = fault.healed_at - fault.applied_at
    if in_place >= planned * _SHORT_SHARE or planned - in_place < _SHORT_SECONDS:
        return ""
    late = fault.applied_at - at
    if late >= _SHORT_SECONDS:
        why = (f"it went in {late:.2f} s after its time ({fault.applied_at:.2f} s, scheduled {at:g} s), as "
               "faults are applied and healed one at a time and what came before it took that long (a "
               "restart waiting for its health check, or a machine too busy to answer)")  # fmt: skip
    else:
        why = "the load ended before its time was up"
    return (f"Fault {fault.id} ({fault.label}) was in place {in_place:.2f} s of the {planned:g} s scheduled: "
            f"{why}. What held, held over a shorter fault than the experiment states; give it more time, "
            "or space the faults apart.")  # fmt: skip


def _read_results(folder: RunDir) -> tuple[dict[str, Any] | None, Results | None, str]:
    """results.json as read and as a model; what is wrong with it when either is missing."""
    try:
        data = folder.read_results()
    except FileNotFoundError:
        return None, None, f"{RunDir.RESULTS} is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, None, f"{RunDir.RESULTS} is unreadable ({type(exc).__name__}: {exc})"
    except ValueError:
        return None, None, f"{RunDir.RESULTS} is not a JSON object"
    try:
        return data, Results.model_validate(data), ""
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        return data, None, f"{RunDir.RESULTS} does not match its schema ({where}: {first['msg']})"


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def _fault_window(journal: list[dict[str, Any]]) -> tuple[float, float] | None:
    """(first applied, last healed) in epoch seconds from the journal, as the slo invariant splits phases."""
    windows = fault_windows(journal)
    starts = [t for t in (_epoch(w.applied.get("at")) for w in windows) if t is not None]
    if not starts:
        return None
    ends = [None if w.healed is None else _epoch(w.healed.get("at")) for w in windows]
    return min(starts), math.inf if any(e is None for e in ends) else max(e for e in ends if e is not None)


def _fault_window_from_results(results: Results) -> tuple[float, float] | None:
    t0 = results.load_started_at
    applied = [f.applied_at for f in results.faults if f.applied_at is not None]
    if t0 is None or not applied:
        return None
    ends = [f.healed_at for f in results.faults if f.applied_at is not None]
    last = math.inf if any(e is None for e in ends) else t0 + max(e for e in ends if e is not None)
    return t0 + min(applied), last


def _experiment(run_dir: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(RunDir(run_dir).experiment.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _reconstruct(
    run_dir: Path, journal: list[dict[str, Any]], timeline: Timeline, problem: str
) -> dict[str, Any]:
    """A results structure (schema version 1) from what a run that never wrote results.json left."""
    spec = _experiment(run_dir)
    name = str(spec.get("name") or run_dir.name)
    target: dict[str, Any] = spec["target"] if isinstance(spec.get("target"), dict) else {}
    defects = [str(d) for d in target.get("defects") or []]
    t0 = timeline.t0
    faults: list[dict[str, Any]] = []
    for window in fault_windows(journal):
        event = window.applied
        applied = _epoch(event.get("at"))
        healed = None if window.healed is None else _epoch(window.healed.get("at"))
        faults.append({
            "index": len(faults),
            "label": f"{event.get('target')}: {event.get('kind')} {event.get('action')}",
            "id": event.get("id"),
            "spec": {k: event[k] for k in ("kind", "target", "action", "params") if k in event},
            "applied_at": None if applied is None or t0 is None else round(applied - t0, 3),
            "healed_at": None if healed is None or t0 is None else round(healed - t0, 3),
        })  # fmt: skip
    times = [t for t in (_epoch(e.get("at")) for e in journal) if t is not None]
    if timeline.first_start is not None:
        times += [timeline.first_start, timeline.last_end or timeline.first_start]
    copied = RunDir(run_dir).experiment
    if t0 is not None:
        times.append(t0)
    # the run copied experiment.yaml first thing; a copy of the run folder may have a later mtime
    first = [copied.stat().st_mtime] if copied.is_file() else []
    started = min([*times, *first], default=run_dir.stat().st_mtime)
    ended = max([*times, started])
    target_path = Path(str(target.get("path") or ""))
    target_name = target_path.parent.name if target_path.suffix in (".yaml", ".yml") else target_path.name
    command = f"paychaos run {copied}" + "".join(f" --defect {d}" for d in defects)
    load: dict[str, Any] = {}
    if timeline.operations and t0 is not None and timeline.last_end is not None:
        load = {"operations": timeline.operations, "errors": timeline.errors,
                "seconds": round(timeline.last_end - t0, 3), **timeline.arrived}  # fmt: skip
        rate = spec["load"].get("arrival_rate") if isinstance(spec.get("load"), dict) else None
        number = isinstance(rate, int | float) and not isinstance(rate, bool)
        if timeline.arrived and number and 0 < float(rate or 0) < math.inf:
            load["arrival_rate"] = float(rate or 0)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_dir.name,
        "status": "interrupted",
        "verdict": VERDICT_WORDS[ExitCode.INTERRUPTED],
        "exit_code": int(ExitCode.INTERRUPTED),
        "error": f"{problem}; report rebuilt from the history, the fault journal and {RunDir.EXPERIMENT}",
        "experiment": {
            "name": name,
            "description": str(spec.get("description") or ""),
            "file": str(copied),
            "seed": spec["seed"] if type(spec.get("seed")) is int else 1,
            "quick": False,
        },
        "target": {"name": target_name or "unknown", "defects": defects},
        "command": command,
        "started_at": started,
        "ended_at": ended,
        "load_started_at": t0,
        "phases": [],
        "load": load,
        "faults": faults,
        "guard": None,
        "invariants": [],
        "coverage": [],
        "backend": None,
        "versions": {"paychaos": __version__, "python": platform.python_version()},
    }
