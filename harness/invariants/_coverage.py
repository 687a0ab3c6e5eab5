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

from dataclasses import dataclass
from typing import Any

from harness._evidence_tables import COUNTERS, Counter
from harness.invariants._base import Evidence, EvidenceUnavailable


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


def count(evidence: Evidence, target_counters: dict[str, Any], required: dict[str, int]) -> list[Count]:
    """Every counter that can be read (paychaos's, then the target's), each with its requirement."""
    counts: list[Count] = []
    for counter in COUNTERS.values():
        if not all(evidence.provided(t) for t in counter.needs) and counter.name not in required:
            continue  # nothing to say about a table the target does not have, unless asked
        counts.append(_read(counter.name, counter.description, lambda c=counter: _builtin(evidence, c)))
    for name, spec in target_counters.items():
        database = evidence.store.target.evidence.sources[spec.source].database
        counts.append(
            _read(name, spec.description, lambda d=database, q=spec.query: _one(evidence.query(d, q)))
        )
    for c in counts:
        c.required = required.get(c.name)
    return counts


def _builtin(evidence: Evidence, counter: Counter) -> int:
    evidence.require(*counter.needs)
    return _one(evidence.sql(counter.query))


def _one(rows: list[dict[str, Any]]) -> int:
    if len(rows) != 1 or len(rows[0]) != 1:
        raise EvidenceUnavailable(
            f"a counter's query must answer one row with one number; it gave {rows[:2]!r}"
        )
    (value,) = rows[0].values()
    return int(value or 0)


def _read(name: str, description: str, read: Any) -> Count:
    try:
        return Count(name, description, int(read()))
    except (EvidenceUnavailable, TypeError, ValueError) as exc:
        return Count(name, description, None, error=str(exc))


def unmet(counts: list[Count]) -> list[Count]:
    return [c for c in counts if c.met is False]
