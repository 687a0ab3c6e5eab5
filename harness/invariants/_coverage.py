"""Coverage: what the stack was made to do in a run, counted, so a pass can be told from a miss.

An invariant that holds says nothing about a path that never ran: "every void
is safe" holds trivially in a run without voids. So after the checks a run
counts what its faults and load made the stack do (declines, voids, unknown
outcomes, refunds, forged requests, …), and an experiment can require a
minimum of any count::

    coverage:
      voids: ">= 1"          # or just 1
      declines: 5

A requirement that is not met makes the run "did not exercise" (exit code 3),
never a pass. paychaos's own counters read the evidence tables; a target adds
its own in ``target.yaml`` (``coverage``: a query per counter on one of its
evidence sources).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from paychaos._evidence_tables import COUNTERS, Counter
from paychaos.invariants._base import Evidence, EvidenceUnavailable
from paychaos.system import CoverageCounter


@dataclass
class Count:
    name: str
    description: str
    value: int | None  # None: could not be counted
    required: int | None = None  # the least count the experiment asks for
    error: str | None = None

    @property
    def met(self) -> bool | None:
        """Whether the requirement holds; None when nothing is required."""
        if self.required is None:
            return None
        return self.value is not None and self.value >= self.required

    def describe(self) -> str:
        got = "could not count" if self.value is None else str(self.value)
        return f"{self.name} = {got}" + (
            f" (required >= {self.required})" if self.required is not None else ""
        )

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "value": self.value,
                "required": self.required, "met": self.met, "error": self.error}  # fmt: skip


def count(
    evidence: Evidence, target_counters: Mapping[str, CoverageCounter], required: Mapping[str, int]
) -> list[Count]:
    """Every counter that can be read (paychaos's, then the target's), each with its requirement.

    A paychaos counter whose tables the target does not provide is left out, unless the
    experiment requires it; then it reads "could not count", which fails the requirement.
    """
    reads: list[tuple[str, str, Callable[[], list[dict[str, Any]]]]] = []
    for c in COUNTERS.values():
        if all(evidence.provided(t) for t in c.needs) or c.name in required:
            reads.append((c.name, c.description, partial(_builtin, evidence, c)))
    for name, spec in target_counters.items():
        database = evidence.store.target.evidence.sources[spec.source].database
        assert database is not None  # the target loader admits sql sources only
        reads.append((name, spec.description, partial(evidence.query, database, spec.query)))
    counts = []
    for name, description, read in reads:
        try:
            value, error = _one(read()), None
        except EvidenceUnavailable as exc:
            value, error = None, str(exc)
        counts.append(Count(name, description, value, required.get(name), error))
    return counts


def _builtin(evidence: Evidence, counter: Counter) -> list[dict[str, Any]]:
    evidence.require(*counter.needs)
    return evidence.sql(counter.query)


def _one(rows: list[dict[str, Any]]) -> int:
    values = [v for row in rows for v in row.values()]
    if len(rows) != 1 or len(values) != 1 or not isinstance(values[0], int | None):
        raise EvidenceUnavailable(
            f"a counter's query must answer one row with one number; it gave {rows[:2]!r}"
        )
    return int(values[0] or 0)
