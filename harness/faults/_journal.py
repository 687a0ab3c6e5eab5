"""The fault journal: one JSON line when a fault is applied and one when it is healed.

Other events: ``apply_failed``, ``heal_failed`` (tried again by ``paychaos heal``)
and ``heal_abandoned`` (a heal that can never be done, with the reason: settled).
Faults that overlap on one piece of state are named on both sides: an
``applied`` event lists the active faults it joins in ``overlaps``, and a heal
that left the state in place for them says so in its ``outcome`` and names them
in ``kept_by``.

Lines are written and flushed as things happen, so the journal of a run that
was killed still says which faults it left in place — what ``paychaos heal``
and the next run read to clean up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from paychaos.rundir import RunDir

JOURNAL_NAME = RunDir.FAULTS


class FaultJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; ``t`` is seconds since the journal opened (the run's own clock)."""
        line = {
            "event": event,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "t": round(time.monotonic() - self._started, 3),
            **fields,
        }
        with self._lock, open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, default=str) + "\n")
            out.flush()
        return line


def read_journal(path: Path) -> list[dict[str, Any]]:
    """Every event in a journal; a torn last line (the writer was killed mid-write) is skipped."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


# A fault is settled once healed, or once its heal was abandoned (it can never be done, and the
# event says why): ``paychaos heal`` does not try it again.
SETTLED = ("healed", "heal_abandoned")


Settled = Literal["healed", "abandoned", "failed"]


@dataclass(frozen=True)
class FaultWindow:
    """One applied fault, from its ``applied`` event to the event that settled it."""

    id: str
    applied: dict[str, Any]
    """Its ``applied`` event."""
    settled: dict[str, Any] | None
    """The first ``healed`` or ``heal_abandoned`` event after it; None while it is still in place."""
    failed: dict[str, Any] | None = None
    """The last ``heal_failed`` event after it, if a heal was tried and failed before it settled."""

    @property
    def how(self) -> Settled | None:
        """healed, abandoned (its heal can never be done), failed (a heal failed; it is still in place)
        or None (no heal was tried yet)."""
        if self.settled is not None:
            return "healed" if self.settled.get("event") == "healed" else "abandoned"
        return "failed" if self.failed is not None else None

    @property
    def healed(self) -> dict[str, Any] | None:
        """Its ``healed`` event, if it was healed (not abandoned)."""
        return self.settled if self.how == "healed" else None


def fault_windows(events: Iterable[dict[str, Any]]) -> list[FaultWindow]:
    """Every applied fault of a journal's ``events`` with what settled it, in the order they were applied.

    Tolerant of what a killed writer or an older paychaos left: an event without an id is skipped.
    """
    applied: dict[str, dict[str, Any]] = {}
    settled: dict[str, dict[str, Any]] = {}
    failed: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, fault_id = event.get("event"), event.get("id")
        if not isinstance(fault_id, str):
            continue
        if kind == "applied":
            applied.setdefault(fault_id, event)
        elif fault_id in applied and fault_id not in settled:
            if kind in SETTLED:
                settled[fault_id] = event
            elif kind == "heal_failed":
                failed[fault_id] = event
    return [FaultWindow(i, event, settled.get(i), failed.get(i)) for i, event in applied.items()]


def unhealed(path: Path) -> list[dict[str, Any]]:
    """The ``applied`` events of faults that have no ``healed`` (or ``heal_abandoned``) event after them."""
    return [w.applied for w in fault_windows(read_journal(path)) if w.settled is None]
