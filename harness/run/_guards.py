"""Guards: abort conditions evaluated live from the history.

A guard trips when its metric stays beyond the threshold for its whole ``for``
window (measured on the run's own clock). When one trips the runner stops
injecting, heals everything, and carries on to verification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paychaos.experiment import Guard
from paychaos.load import LiveStats


@dataclass
class Trip:
    guard: int
    metric: str
    threshold: float
    value: float
    at: float  # seconds since the load started
    since: float

    def describe(self) -> str:
        guard_word = "above" if self.value > self.threshold else "below"
        return (
            f"guard {self.guard} ({self.metric} {guard_word} {self.threshold:g}) tripped at {self.at:.1f}s: "
            f"{self.metric} was {self.value:.3g} since {self.since:.1f}s"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "guard": self.guard,
            "metric": self.metric,
            "threshold": self.threshold,
            "value": self.value,
            "at": round(self.at, 3),
            "since": round(self.since, 3),
            "message": self.describe(),
        }


# A guard's metric is taken over the last second, and must stay beyond the threshold
# for the guard's whole ``for``: a window as long as ``for`` would hold a brief spike
# against the guard for that long.
WINDOW = 1.0


class GuardWatch:
    def __init__(self, guards: list[Guard]) -> None:
        self.guards = guards
        self._since: dict[int, float] = {}
        self.tripped: Trip | None = None

    def check(self, stats: LiveStats, now_epoch: float, t: float) -> Trip | None:
        """Evaluate every guard at run time ``t``; return the first trip, once."""
        if self.tripped is not None:
            return None
        for i, guard in enumerate(self.guards):
            window = stats.window(now_epoch, seconds=WINDOW, kind=guard.kind)
            value = window.metric(guard.metric)
            beyond = value > guard.threshold if guard.above is not None else value < guard.threshold
            if window.count == 0 and guard.metric != "rps":
                beyond = False  # no operations, no evidence of a breach
            if not beyond:
                self._since.pop(i, None)
                continue
            since = self._since.setdefault(i, t)
            if t - since >= guard.for_:
                self.tripped = Trip(i, guard.metric, guard.threshold, value, t, since)
                return self.tripped
        return None
