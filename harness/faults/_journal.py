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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

JOURNAL_NAME = "faults.jsonl"


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


def unhealed(path: Path) -> list[dict[str, Any]]:
    """The ``applied`` events of faults that have no ``healed`` (or ``heal_abandoned``) event after them."""
    applied: dict[str, dict[str, Any]] = {}
    for event in read_journal(path):
        if event["event"] == "applied":
            applied[event["id"]] = event
        elif event["event"] in SETTLED:
            applied.pop(event["id"], None)
    return list(applied.values())
