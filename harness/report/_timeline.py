"""The history, streamed once and aggregated into time buckets, per phase and per kind.

A run of an hour writes millions of history lines; the report needs a few
thousand numbers. Lines are read one at a time (never a whole file), and each
operation lands in a bucket of ``width`` seconds by when it ended. Latencies go
into log-scale histograms, so percentiles cost a bounded amount of memory
whatever the number of operations (within ±2% in a bucket, ±0.5% per phase and
per kind). When a run turns out longer than ``MAX_BUCKETS`` buckets, the
buckets merge into wider ones (1 s → 2 s → 6 s → 12 s → 1 min → …).

Errors are what the runner and the slo invariant count: failed or unknown
(timeout, connection) outcomes, expected refusals excluded. Latency runs from
an operation's ``intended`` start when it has one (the first operation of an
open-loop iteration: when the iteration was due), else from its start.

An open-loop load's ``arrivals`` lines (one per second and process) are summed
into the same buckets: arrivals offered, started and dropped per second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

MAX_BUCKETS = 720
WIDTHS = (
    1,
    2,
    6,
    12,
    60,
    120,
    600,
    1200,
    3600,
    7200,
    21600,
    43200,
    86400,
)  # each a multiple of the one before
OUTCOMES = ("ok", "refused", "failed", "timeout", "connection")  # refused: a failure the scenario expected
ARRIVALS = ("offered", "started", "dropped")  # an open loop's arrivals: offered = started + dropped
PHASES = ("steady", "fault", "recovery")
_SMALLEST = 1e-4  # latencies under 0.1 ms share the first histogram bin


class Histogram:
    """Counts of latencies in log-spaced bins: bin ``b`` holds [0.1 ms × growth^b, 0.1 ms × growth^(b+1))."""

    __slots__ = ("bins", "count", "growth")

    def __init__(self, growth: float, bins: dict[int, int] | None = None) -> None:
        self.growth = growth
        self.bins: dict[int, int] = bins if bins is not None else {}
        self.count = sum(self.bins.values())

    def add(self, seconds: float) -> None:
        b = _bin(seconds, 1.0 / math.log(self.growth))
        self.bins[b] = self.bins.get(b, 0) + 1
        self.count += 1

    def quantile(self, q: float) -> float | None:
        """The latency at quantile ``q`` (0..1, nearest rank), from the middle of its bin; None if empty."""
        if not self.count:
            return None
        rank = max(0, math.ceil(q * self.count) - 1)
        seen = 0
        for b in sorted(self.bins):
            seen += self.bins[b]
            if seen > rank:
                return 0.0 if b <= 0 else _SMALLEST * self.growth ** (b + 0.5)
        raise AssertionError("unreachable: rank < count")


# Per phase and per kind, bins grow by 1%; per bucket by 1.01^4 (about 4%): a bucket's bin is a fine one // 4.
_FINE = 1.01
_COARSE_SHIFT = 2
_FINE_SCALE = 1.0 / math.log(_FINE)


def _bin(seconds: float, scale: float) -> int:
    return int(math.log(seconds / _SMALLEST) * scale) if seconds > _SMALLEST else 0


def _add_bins(into: dict[int, int], other: dict[int, int]) -> None:
    for b, n in other.items():
        into[b] = into.get(b, 0) + n


@dataclass
class Series:
    """One kind's (or all kinds') values per bucket; None where the bucket has no operation of it."""

    rps: list[float]
    error_rate: list[float | None]
    p50: list[float | None]
    p99: list[float | None]


@dataclass
class Timeline:
    """What the report charts and tabulates; times are seconds since ``t0`` (the load's start)."""

    t0: float | None  # epoch seconds; None: no operation and no start marker
    width: float  # seconds per bucket
    x: list[float]  # each bucket's middle
    kinds: dict[str, Series]  # busiest kind first
    total: Series
    outcomes: dict[str, list[float]]  # per second, by outcome (see OUTCOMES)
    by_kind: list[dict[str, Any]]  # kind, operations, errors, refused, unknown, error_rate, p50, p95, p99
    phases: list[dict[str, Any]]  # phase, operations, error_rate, p50, p95, p99 (as the slo invariant's)
    operations: int = 0
    errors: int = 0
    first_start: float | None = None  # epoch seconds
    last_end: float | None = None
    skipped_lines: int = 0  # torn or unreadable lines
    files: int = 0
    arrivals: dict[str, list[float]] = field(default_factory=dict)  # per second, by ARRIVALS; {}: closed loop
    arrived: dict[str, int] = field(default_factory=dict)  # the same, summed over the run


# A cell is [operations, errors, coarse latency bins] for one bucket and kind; a total is
# [operations, errors, refused, unknown, fine latency bins] for one kind and phase.
_Cell = list[Any]
_Total = list[Any]


class _Aggregate:
    def __init__(self, origin: float | None, width: float, fault_window: tuple[float, float] | None) -> None:
        self.origin = origin
        self.width = width
        self.first_fault, self.last_heal = fault_window or (math.inf, math.inf)
        self.cells: dict[tuple[int, str], _Cell] = {}
        self.outcomes: dict[tuple[int, str], int] = {}
        self.arrivals: dict[int, list[int]] = {}  # bucket → [offered, started, dropped]
        self.totals: dict[tuple[str, str], _Total] = {}
        self.lo = math.inf
        self.hi = -math.inf
        self.markers: list[float] = []
        self.first_start = math.inf
        self.last_end = -math.inf
        self.skipped = 0

    def consume(self, lines: Iterable[bytes]) -> None:
        """Add every operation of ``lines``: one loop over local names, as it runs once per line."""
        loads, log, floor = orjson.loads, math.log, math.floor
        cells, outcomes, totals = self.cells, self.outcomes, self.totals
        first_fault, last_heal = self.first_fault, self.last_heal
        origin, width, lo, hi = self.origin, self.width, self.lo, self.hi
        first_start, last_end = self.first_start, self.last_end
        for line in lines:
            try:
                op = loads(line)
                if "event" in op:
                    if op["event"] == "start":
                        self.markers.append(float(op["at"]))
                    elif op["event"] == "arrivals":  # one a second: the aggregate's own fields are fine
                        self.lo, self.hi = lo, hi
                        self._arrivals(op)
                        origin, width, lo, hi = self.origin, self.width, self.lo, self.hi
                        cells, outcomes = self.cells, self.outcomes
                    continue
                start, end, kind, outcome = op["start"], op["end"], op["kind"], op["outcome"]
                latency = end - op.get("intended", start)
                if origin is None:
                    origin = self.origin = start
                index = floor((end - origin) / width)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                self.skipped += 1  # a torn last line (the writer was killed), or not an operation
                continue
            if index < lo or index > hi:
                lo, hi = min(lo, index), max(hi, index)
                if hi - lo + 1 > MAX_BUCKETS:
                    self.lo, self.hi = lo, hi
                    while self.hi - self.lo + 1 > MAX_BUCKETS and self.width < WIDTHS[-1]:
                        self._coarsen()
                    cells, outcomes, width, lo, hi = self.cells, self.outcomes, self.width, self.lo, self.hi
                    index = floor((end - origin) / width)
            ok = outcome == "ok"
            expected = not ok and bool(op.get("expected"))
            error = not ok and not expected
            fine = int(log(latency / _SMALLEST) * _FINE_SCALE) if latency > _SMALLEST else 0
            cell = cells.get((index, kind))
            if cell is None:
                cell = cells[(index, kind)] = [0, 0, {}]
            cell[0] += 1
            cell[1] += error
            bins = cell[2]
            coarse = fine >> _COARSE_SHIFT
            bins[coarse] = bins.get(coarse, 0) + 1
            key = (index, "refused" if expected else outcome)
            outcomes[key] = outcomes.get(key, 0) + 1
            phase = "steady" if start < first_fault else "fault" if start <= last_heal else "recovery"
            total = totals.get((kind, phase))
            if total is None:
                total = totals[(kind, phase)] = [0, 0, 0, 0, {}]
            total[0] += 1
            total[1] += error
            total[2] += expected
            total[3] += outcome == "timeout" or outcome == "connection"
            bins = total[4]
            bins[fine] = bins.get(fine, 0) + 1
            if start < first_start:
                first_start = start
            if end > last_end:
                last_end = end
        self.lo, self.hi, self.first_start, self.last_end = lo, hi, first_start, last_end

    def _arrivals(self, line: dict[str, Any]) -> None:
        """Add one ``arrivals`` line to the bucket its second starts in."""
        at = float(line["at"])
        counts = [int(line[name]) for name in ARRIVALS]
        if self.origin is None:
            self.origin = at
        # 1e-6: a second that starts on a bucket's edge (at = t0 + n) belongs to that bucket
        index = math.floor((at - self.origin) / self.width + 1e-6)
        self.lo, self.hi = min(self.lo, index), max(self.hi, index)
        while self.hi - self.lo + 1 > MAX_BUCKETS and self.width < WIDTHS[-1]:
            self._coarsen()
            index = math.floor((at - self.origin) / self.width + 1e-6)
        into = self.arrivals.setdefault(index, [0, 0, 0])
        for i, n in enumerate(counts):
            into[i] += n

    def _coarsen(self) -> None:
        """Merge buckets into the next wider width (a whole multiple of this one)."""
        wider = next(w for w in WIDTHS if w > self.width)
        factor = round(wider / self.width)
        cells: dict[tuple[int, str], _Cell] = {}
        for (index, kind), cell in self.cells.items():
            key = (index // factor, kind)
            into = cells.get(key)
            if into is None:
                cells[key] = cell
            else:
                into[0] += cell[0]
                into[1] += cell[1]
                _add_bins(into[2], cell[2])
        outcomes: dict[tuple[int, str], int] = {}
        for (index, label), n in self.outcomes.items():
            key = (index // factor, label)
            outcomes[key] = outcomes.get(key, 0) + n
        arrivals: dict[int, list[int]] = {}
        for index, counts in self.arrivals.items():
            into = arrivals.setdefault(index // factor, [0, 0, 0])
            for i, n in enumerate(counts):
                into[i] += n
        self.cells, self.outcomes, self.arrivals = cells, outcomes, arrivals
        self.lo, self.hi, self.width = self.lo // factor, self.hi // factor, wider

    def result(self, t0: float | None, files: int) -> Timeline:
        t0 = t0 if t0 is not None else (min(self.markers) if self.markers else self.origin)
        if not self.cells or self.origin is None or t0 is None:
            return Timeline(t0, self.width, [], {}, Series([], [], [], []), {}, [], [], files=files,
                            skipped_lines=self.skipped)  # fmt: skip
        width, lo, hi = self.width, int(self.lo), int(self.hi)
        shift = self.origin - t0
        x = [round(shift + (i + 0.5) * width, 3) for i in range(lo, hi + 1)]
        per_kind: dict[str, _Total] = {}
        per_phase: dict[str, _Total] = {}
        for (kind, phase), total in self.totals.items():
            for table, key in ((per_kind, kind), (per_phase, phase)):
                into = table.setdefault(key, [0, 0, 0, 0, {}])
                for i in range(4):
                    into[i] += total[i]
                _add_bins(into[4], total[4])
        by_kind = sorted(per_kind, key=lambda k: (-per_kind[k][0], k))
        arrived = {name: sum(c[n] for c in self.arrivals.values()) for n, name in enumerate(ARRIVALS)}
        if not self.arrivals:
            arrived = {}  # a closed loop writes no arrivals lines
        return Timeline(
            t0=t0,
            width=width,
            x=x,
            kinds={k: self._series(lo, hi, [k]) for k in by_kind},
            total=self._series(lo, hi, by_kind),
            outcomes={
                label: [self.outcomes.get((i, label), 0) / width for i in range(lo, hi + 1)]
                for label in OUTCOMES
                if any(key[1] == label for key in self.outcomes)
            },
            by_kind=[{"kind": k, **_stats(per_kind[k])} for k in by_kind],
            phases=[{"phase": p, **_stats(per_phase[p])} for p in PHASES if p in per_phase],
            operations=sum(t[0] for t in per_kind.values()),
            errors=sum(t[1] for t in per_kind.values()),
            first_start=self.first_start,
            last_end=self.last_end,
            skipped_lines=self.skipped,
            files=files,
            arrivals=self._arrival_series(lo, hi),
            arrived=arrived,
        )

    def _arrival_series(self, lo: int, hi: int) -> dict[str, list[float]]:
        if not self.arrivals:
            return {}
        empty = [0, 0, 0]
        return {
            name: [self.arrivals.get(i, empty)[n] / self.width for i in range(lo, hi + 1)]
            for n, name in enumerate(ARRIVALS)
        }

    def _series(self, lo: int, hi: int, kinds: list[str]) -> Series:
        series = Series([], [], [], [])
        coarse = _FINE ** (1 << _COARSE_SHIFT)
        for i in range(lo, hi + 1):
            count = errors = 0
            bins: dict[int, int] = {}
            for kind in kinds:
                cell = self.cells.get((i, kind))
                if cell is not None:
                    count += cell[0]
                    errors += cell[1]
                    _add_bins(bins, cell[2])
            latency = Histogram(coarse, bins)
            series.rps.append(count / self.width)
            series.error_rate.append(errors / count if count else None)
            series.p50.append(latency.quantile(0.5))
            series.p99.append(latency.quantile(0.99))
        return series


def _stats(total: _Total) -> dict[str, Any]:
    count, errors, refused, unknown, bins = total
    latency = Histogram(_FINE, bins)
    return {
        "operations": count,
        "errors": errors,
        "refused": refused,
        "unknown": unknown,
        "error_rate": errors / count if count else None,
        "p50": latency.quantile(0.5),
        "p95": latency.quantile(0.95),
        "p99": latency.quantile(0.99),
    }


def initial_width(seconds: float | None) -> float:
    """The narrowest width that fits a run of ``seconds`` in MAX_BUCKETS buckets (1 s if unknown)."""
    if not seconds or seconds <= 0:
        return WIDTHS[0]
    return next((w for w in WIDTHS if seconds / w <= MAX_BUCKETS), WIDTHS[-1])


def _first_marker(paths: list[Path], lines: int = 5) -> float | None:
    """The earliest start marker among the first lines of each file (each process writes one first)."""
    found: list[float] = []
    for path in paths:
        with open(path, "rb") as f:
            for _, line in zip(range(lines), f, strict=False):
                try:
                    record = orjson.loads(line)
                    if record.get("event") == "start":
                        found.append(float(record["at"]))
                except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
                    continue
    return min(found, default=None)


def read_timeline(
    history: Path,
    *,
    t0: float | None = None,
    fault_window: tuple[float, float] | None = None,
    expected_seconds: float | None = None,
) -> Timeline:
    """Aggregate every ``*.jsonl`` file of a history folder, streaming them line by line.

    ``t0`` is the load's start (epoch; default: the earliest start marker, else the first operation);
    ``fault_window`` is (first fault applied, last fault healed) in epoch seconds, for the per-phase
    statistics (``inf`` as the heal of a fault never healed); ``expected_seconds`` picks the first
    bucket width (buckets widen anyway if the history runs longer).
    """
    paths = sorted(history.glob("*.jsonl")) if history.is_dir() else []
    if t0 is None:
        t0 = _first_marker(paths)
    agg = _Aggregate(t0, initial_width(expected_seconds), fault_window)
    for path in paths:
        with open(path, "rb") as lines:
            agg.consume(lines)
    return agg.result(t0, len(paths))
