"""``paychaos prune``: remove old run folders, never a run that still runs or one a heal still needs.

>>> for item in prune(Path("reports"), keep=10, older_than=parse_age("7d")):   # doctest: +SKIP
...     print(item.status, item.path, item.size)

A run folder is one that holds ``experiment.yaml`` or ``results.json``, directly under the folder
given; anything else there is never touched. Runs are dated by when they ended (results.json), else
by when they started (results.json, then the stamp in the run id), else by their newest file. With
``keep`` the newest runs stay; with ``older_than`` only runs older than that go; with both, a run
goes only if neither keeps it.

A run is removed holding its lock (:func:`paychaos._ownership.claimed`), so a run that still runs
is left alone, and so is a dead run that left something for ``paychaos heal`` to undo: a fault not
healed, a process still running, a database directory, a Compose project up. Removing its folder
would lose the journal that heal needs; heal it first.

A run's baseline (``run --baseline``) stays as long as a run that links to it stays: the report's
link to it would lead nowhere. It goes with the last run that links to it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from paychaos._ownership import Stamp, claimed, describe_holder, read_ledger
from paychaos.errors import InvalidInput
from paychaos.rundir import RunDir

Status = Literal["removed", "would remove", "left alone", "failed"]

_AGE_UNITS = {"w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_AGE_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)([wdhms])")
_RUN_STAMP = re.compile(r"^(\d{8}-\d{6})-")  # run ids start with their local start time (run/_plan.py)


def parse_age(text: str) -> float:
    """Seconds in an age such as ``7d``, ``36h``, ``2w``, ``1d12h``, ``90m``; ValueError if it is none."""
    cleaned = text.strip().lower().replace(" ", "")
    total, pos = 0.0, 0
    for match in _AGE_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _AGE_UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise ValueError(f"invalid age {text!r}; write it like '7d', '36h', '2w' or '1d12h'")
    return total


@dataclass(frozen=True)
class RunFolder:
    path: Path
    when: float  # epoch seconds: when the run ended, else started, else its newest file
    size: int  # bytes, its files added up (links not followed)


@dataclass(frozen=True)
class Pruned:
    """What became of one run folder that the rules did not keep."""

    run: RunFolder
    status: Status
    reason: str = ""

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def size(self) -> int:
        return self.run.size


def is_run(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.is_symlink()
        and ((path / RunDir.EXPERIMENT).is_file() or (path / RunDir.RESULTS).is_file())
    )


def runs_in(out: Path) -> list[RunFolder]:
    """The run folders directly under ``out``, newest first."""
    if not out.is_dir():
        raise InvalidInput(f"{out}: no such folder; name the folder runs write to (--out)")
    runs = [RunFolder(p, _when(p), _size(p)) for p in out.iterdir() if is_run(p)]
    return sorted(runs, key=lambda r: (r.when, r.path.name), reverse=True)


def prune(
    out: Path,
    *,
    keep: int | None = None,
    older_than: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> list[Pruned]:
    """Remove (or, ``dry_run``, only list) the runs under ``out`` that neither rule keeps: the
    ``keep`` newest stay, and so do runs not older than ``older_than`` seconds. At least one rule
    is required. Returns one entry per run not kept, oldest last."""
    if keep is None and older_than is None:
        raise InvalidInput(
            "say which runs to remove: --keep N (the N newest stay), --older-than AGE, or both"
        )
    if keep is not None and keep < 0:
        raise InvalidInput(f"--keep {keep}: give a number of runs, 0 or more")
    now = time.time() if now is None else now
    runs = runs_in(out)
    going = [
        run
        for index, run in enumerate(runs)
        if (keep is None or index >= keep) and (older_than is None or now - run.when > older_than)
    ]
    # The baselines of the runs that stay, and who links to each. Newest first, so a run that is
    # left alone below is seen before the (older) baseline it links to.
    needed: dict[Path, Path] = {}
    for run in runs:
        if run not in going:
            _note_baseline(run.path, needed)
    done = []
    for run in going:
        holder = needed.get(run.path.resolve())
        if holder is not None:
            pruned = Pruned(run, "left alone", f"the baseline of {holder.name}, which stays")
        else:
            pruned = _remove(run, dry_run=dry_run)
        if pruned.status in ("left alone", "failed"):  # it stays, and so must its baseline
            _note_baseline(run.path, needed)
        done.append(pruned)
    return done


def baseline_of(run_dir: Path) -> Path | None:
    """The folder of the run's baseline, from its results.json; None if it had none."""
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        record = json.loads((run_dir / RunDir.RESULTS).read_text(encoding="utf-8")).get("baseline")
        if isinstance(record, dict):
            link = record.get("link") or record.get("run_dir")
            if isinstance(link, str) and link:
                return (run_dir / link).resolve()
    return None


def _note_baseline(run_dir: Path, needed: dict[Path, Path]) -> None:
    base = baseline_of(run_dir)
    if base is not None:
        needed.setdefault(base, run_dir)


def _remove(run: RunFolder, *, dry_run: bool) -> Pruned:
    with claimed(run.path) as owner:
        if owner is not None:
            return Pruned(run, "left alone", f"still running ({describe_holder(owner)})")
        left = leftovers(run.path)
        if left:
            return Pruned(run, "left alone", f"it left {'; '.join(left)}: paychaos heal {run.path} first")
        if dry_run:
            return Pruned(run, "would remove")
        try:
            shutil.rmtree(run.path)
        except OSError as exc:
            return Pruned(run, "failed", f"{exc.strerror or exc}: {exc.filename or run.path}")
    return Pruned(run, "removed")


def leftovers(run_dir: Path) -> list[str]:
    """What a dead run left for ``paychaos heal`` to undo, in words; [] when nothing."""
    from paychaos.faults import unhealed

    left = []
    journal = run_dir / RunDir.FAULTS
    if journal.is_file():
        try:
            faults = unhealed(journal)
        except (OSError, ValueError) as exc:
            faults = []
            left.append(f"a fault journal that cannot be read ({exc})")
        if faults:
            left.append(f"{len(faults)} fault(s) not healed ({', '.join(str(f.get('id')) for f in faults)})")
    for record in read_ledger(run_dir):
        stamp = Stamp.from_json(record)
        if stamp is not None and stamp.alive():
            left.append(f"{record.get('role', 'process')} {record.get('name', '')} running (pid {stamp.pid})")
        if record.get("remove") and Path(str(record["remove"])).exists():
            left.append(f"{record['remove']} not removed")
    left += [f"Compose project {name} {state}" for name, state in _compose_projects(run_dir).items()]
    return left


def _compose_projects(run_dir: Path) -> dict[str, str]:
    """The Compose projects the run's ledger says are up (or kept up on purpose), by name."""
    latest: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in (run_dir / RunDir.PROCESSES).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and isinstance(record.get("compose"), str):
                    latest[record["compose"]] = str(record.get("state") or latest.get(record["compose"], ""))
    shown = {"up": "up", "kept": "kept up (--keep)"}
    return {name: shown[state] for name, state in latest.items() if state in shown}


def _when(run_dir: Path) -> float:
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        results = json.loads((run_dir / RunDir.RESULTS).read_text(encoding="utf-8"))
        for key in ("ended_at", "started_at"):
            if isinstance(results.get(key), int | float) and not isinstance(results[key], bool):
                return float(results[key])
    stamp = _RUN_STAMP.match(run_dir.name)
    if stamp:
        with contextlib.suppress(ValueError):
            return datetime.strptime(stamp.group(1), "%Y%m%d-%H%M%S").timestamp()  # local time, as named
    times = [p.lstat().st_mtime for p in run_dir.iterdir()]
    return max(times, default=run_dir.lstat().st_mtime)


def _size(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def human_size(size: int) -> str:
    """``812.4 MB``, ``3.1 kB``: decimal units, as ``du --si``."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
