"""Open-loop load as plain functions of time: the arrival rate at second ``t``, and when each arrival is due.

In an open loop (``load: {arrival_rate: 40}``) scenario iterations start at a set rate whatever
the stack's latency, the way customers keep arriving at a slow shop. The arrivals' intended
times are fixed in advance from the shape, so a late dispatcher never shifts the ones after
(no drift accumulates), and an iteration's latency can be measured from when it should have
started rather than from when a free user got to it (no coordinated omission).

The ``k``-th arrival (from 0) is due when the area under the rate curve reaches ``k``: at a
constant 40/s, at 0, 25 ms, 50 ms, … ; a ramp's arrivals crowd together as it climbs.

>>> from paychaos.experiment import Load
>>> load = Load(arrival_rate=4, duration="1s")
>>> list(arrival_times(load))
[0.0, 0.25, 0.5, 0.75]
>>> rate_at(load, 0.5), rate_at(load, 1.0)
(4.0, None)

Locust's dispatcher (in :mod:`paychaos.load.locustfile`) walks :func:`arrival_times` and keeps
an :class:`ArrivalTally`, which writes one ``arrivals`` line per second to the history.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from paychaos.experiment import ConstantShape, Load, RampShape, SpikeShape, StagesShape

_EPSILON = 1e-9  # arrivals this close to a piece's end belong to the next piece (float sums of areas)


@dataclass(frozen=True)
class _Piece:
    """The rate over ``[start, end)``: linear from ``first`` to ``last`` arrivals/s."""

    start: float
    end: float
    first: float
    last: float

    @property
    def area(self) -> float:
        return (self.first + self.last) / 2 * (self.end - self.start)

    def rate(self, t: float) -> float:
        if self.first == self.last:
            return self.first
        return self.first + (self.last - self.first) * (t - self.start) / (self.end - self.start)

    def time_of(self, area: float) -> float:
        """When, after ``start``, the area under this piece reaches ``area`` (0 ≤ area ≤ its area)."""
        if area <= 0:
            return self.start
        slope = (self.last - self.first) / (self.end - self.start)
        if slope == 0:
            return self.start + area / self.first
        # slope/2 τ² + first τ - area = 0, in the form that stays exact when first is 0
        root = math.sqrt(max(self.first * self.first + 2 * slope * area, 0.0))
        return self.start + 2 * area / (self.first + root)


def _pieces(load: Load, share: float) -> list[_Piece]:
    """The load's rate curve, ``share`` of it, as consecutive pieces (constant or linear)."""
    shape, end = load.shape, load.total_duration
    rate = (load.arrival_rate or 0.0) * share
    pieces: list[_Piece] = []
    if isinstance(shape, ConstantShape):
        pieces = [_Piece(0.0, end, rate, rate)]
    elif isinstance(shape, RampShape):
        over = min(shape.over, end)
        start = shape.start * share
        top = start + (rate - start) * (over / shape.over) if shape.over else rate
        pieces = [_Piece(0.0, over, start, top), _Piece(over, end, rate, rate)]
    elif isinstance(shape, SpikeShape):
        peak = rate * shape.multiple
        at, until = min(shape.at, end), min(shape.at + shape.for_, end)
        pieces = [_Piece(0.0, at, rate, rate), _Piece(at, until, peak, peak), _Piece(until, end, rate, rate)]
    else:
        assert isinstance(shape, StagesShape)
        t = 0.0
        for stage in shape.stages:
            stage_rate = (stage.arrival_rate or 0.0) * share
            pieces.append(_Piece(t, t + stage.duration, stage_rate, stage_rate))
            t += stage.duration
    return [p for p in pieces if p.end > p.start]


def rate_at(load: Load, t: float) -> float | None:
    """Arrivals per second the load should start at ``t`` seconds (all processes), or None once it is over.

    >>> from paychaos.experiment import Load
    >>> ramp = Load.model_validate({"arrival_rate": 40, "duration": "20s",
    ...                             "shape": {"type": "ramp", "start": 5, "over": "10s"}})
    >>> rate_at(ramp, 0), rate_at(ramp, 5), rate_at(ramp, 15)
    (5.0, 22.5, 40.0)
    """
    if t < 0 or t >= load.total_duration:
        return None
    for piece in _pieces(load, 1.0):
        if piece.start <= t < piece.end:
            return piece.rate(t)
    return None  # pragma: no cover - t < total_duration means some piece holds it


def arrival_times(load: Load, share: float = 1.0) -> Iterator[float]:
    """Each arrival's intended start, in seconds since the load began, in order.

    ``share`` is this process's part of the rate (``1 / load.senders``): each of two processes
    starts half the arrivals, at the same intended times.

    >>> from paychaos.experiment import Load
    >>> len(list(arrival_times(Load(arrival_rate=40, duration="20s"))))
    800
    """
    before = 0.0  # the area under the curve before the current piece
    k = 0
    for piece in _pieces(load, share):
        area = piece.area
        while k < before + area - _EPSILON:
            yield piece.time_of(k - before)
            k += 1
        before += area


@dataclass
class Second:
    """One second of arrivals in one process: intended, taken by an idle user, or dropped (none was)."""

    offered: int = 0
    started: int = 0
    dropped: int = 0


class ArrivalTally:
    """Counts each second's arrivals and hands out its ``arrivals`` history line once the second is over.

    >>> tally = ArrivalTally(t0=1000.0, process=0, seconds=2)
    >>> tally.add(0.0, started=True); tally.add(0.5, started=False)
    >>> tally.due(1.0)
    [{'event': 'arrivals', 'at': 1000.0, 'process': 0, 'offered': 2, 'started': 1, 'dropped': 1}]
    >>> tally.rest()
    [{'event': 'arrivals', 'at': 1001.0, 'process': 0, 'offered': 0, 'started': 0, 'dropped': 0}]
    """

    def __init__(self, t0: float, process: int, seconds: int) -> None:
        self.t0 = t0
        self.process = process
        self.seconds = [Second() for _ in range(max(seconds, 0))]
        self._written = 0  # seconds whose line was handed out

    def add(self, offset: float, *, started: bool) -> None:
        """One arrival, intended ``offset`` seconds after ``t0``."""
        second = self.seconds[min(int(offset), len(self.seconds) - 1)]
        second.offered += 1
        if started:
            second.started += 1
        else:
            second.dropped += 1

    def due(self, offset: float) -> list[dict[str, Any]]:
        """The lines of the seconds over by ``offset`` seconds after ``t0``, each once."""
        over = len(self.seconds) if offset >= len(self.seconds) else max(int(offset), 0)
        lines = [self._line(i) for i in range(self._written, over)]
        self._written = max(self._written, over)
        return lines

    def rest(self, offset: float = math.inf) -> list[dict[str, Any]]:
        """The lines not handed out yet, up to the second holding ``offset`` (default: every one)."""
        return self.due(math.floor(offset) + 1 if math.isfinite(offset) else offset)

    def _line(self, i: int) -> dict[str, Any]:
        s = self.seconds[i]
        return {"event": "arrivals", "at": self.t0 + i, "process": self.process,
                "offered": s.offered, "started": s.started, "dropped": s.dropped}  # fmt: skip
