"""The fault schedule: which fault to apply and heal at which second of the load.

Applying and healing happen one at a time, in the loop that drives the load, so a slow one (a
restart that waits for its health check, an API that answers late under load) delays the next.
Each fault's ``applied_at`` and ``healed_at`` are therefore when its apply and its heal returned,
as the journal has them, not when they were due: the report compares the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from paychaos.faults import Fault, FaultInjector
from paychaos.faults.kinds import FaultSpec


@dataclass
class Entry:
    index: int
    spec: FaultSpec
    fault_id: str | None = None
    applied_at: float | None = None
    healed_at: float | None = None

    @property
    def ends(self) -> float | None:
        return None if self.spec.duration is None else self.spec.at + self.spec.duration

    def label(self) -> str:
        """The fault's own label, or what its kind says it is."""
        return self.spec.label or self.spec.describe()


@dataclass
class FaultSchedule:
    entries: list[Entry]
    build: Callable[[FaultSpec], Fault]
    injector: FaultInjector
    stopped: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Seconds since the load started, now; without it, the ``t`` given to tick() or stop() stands.
    clock: Callable[[], float] | None = None

    @classmethod
    def of(
        cls, specs: list[FaultSpec], build: Callable[[FaultSpec], Fault], injector: FaultInjector
    ) -> FaultSchedule:
        return cls([Entry(i, spec) for i, spec in enumerate(specs)], build, injector)

    def tick(self, t: float) -> list[str]:
        """Apply what is due and heal what has run its course at run time ``t``; return what happened."""
        happened: list[str] = []
        for entry in self.entries:
            if (
                entry.fault_id is not None
                and entry.healed_at is None
                and entry.ends is not None
                and t >= entry.ends
            ):
                self._heal(entry, t)
                happened.append(f"healed {entry.label()}")
        if self.stopped:
            return happened
        for entry in self.entries:
            if entry.applied_at is None and t >= entry.spec.at:
                entry.applied_at = t  # tried: a failed apply ends the run, it is not tried again
                entry.fault_id = self.injector.apply(self.build(entry.spec))
                entry.applied_at = now = self._now(t)
                self.events.append({"event": "applied", "fault": entry.index, "t": round(now, 3)})
                happened.append(f"applied {entry.label()}")
        return happened

    def stop(self, t: float) -> None:
        """No more faults: heal the active ones now (a guard tripped, or the load ended)."""
        self.stopped = True
        for entry in self.entries:
            if entry.fault_id is not None and entry.healed_at is None:
                self._heal(entry, t)

    def _heal(self, entry: Entry, t: float) -> None:
        assert entry.fault_id is not None
        entry.healed_at = t
        self.injector.heal(entry.fault_id)
        entry.healed_at = self._now(t)
        self.events.append({"event": "healed", "fault": entry.index, "t": round(entry.healed_at, 3)})

    def _now(self, t: float) -> float:
        return t if self.clock is None else max(t, self.clock())

    def as_json(self) -> list[dict[str, Any]]:
        """Each fault as results.json lists it: what it was, and when it was applied and healed."""
        return [
            {
                "index": e.index,
                "label": e.label(),
                "id": e.fault_id,
                "spec": e.spec.model_dump(mode="json", by_alias=True, exclude_none=True),
                "applied_at": e.applied_at,
                "healed_at": e.healed_at,
            }
            for e in self.entries
        ]

    @property
    def active(self) -> list[str]:
        return [e.label() for e in self.entries if e.fault_id is not None and e.healed_at is None]
