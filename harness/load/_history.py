"""The history journal: every client operation of a run as one JSON line, as it happens.

Each Locust process appends to its own file under ``<run>/history/``; the
harness reads all of them while the run goes on (progress, guards) and after
it (invariants, reports). A line holds the operation's id and kind, the order,
idempotency key and amount it concerned, when it started and ended (epoch
seconds), its outcome — ``ok``, ``failed`` (with the status), ``timeout`` or
``connection``: the last two are *unknown*, the operation may or may not have
happened — and the payment id and state the answer carried. In an open-loop
load, the first operation of each scenario iteration also holds ``intended``:
when the iteration was due, which latency is measured from (:func:`latency`).

Lines with an ``event`` key are markers, not operations: ``start`` (this
process began sending load) and, in an open-loop load, ``arrivals``, one per
second and process: the arrivals ``offered`` that second, ``started`` by a
user and ``dropped`` because every user was busy.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

Outcome = Literal["ok", "failed", "timeout", "connection"]
UNKNOWN: tuple[Outcome, ...] = ("timeout", "connection")
_ARRIVALS = b'{"event":"arrivals"'  # how an arrivals line begins (orjson writes no spaces)


def latency(op: dict[str, Any]) -> float:
    """An operation's latency: from when it was due (``intended``, open loop) or sent, to its end.

    >>> latency({"start": 10.5, "end": 11.0}), latency({"intended": 10.0, "start": 10.5, "end": 11.0})
    (0.5, 1.0)
    """
    return float(op["end"]) - float(op.get("intended", op["start"]))


@dataclass
class Arrivals:
    """An open loop's arrivals summed over seconds and processes: ``offered = started + dropped``."""

    offered: int = 0
    started: int = 0
    dropped: int = 0

    def add(self, marker: dict[str, Any]) -> None:
        self.offered += int(marker["offered"])
        self.started += int(marker["started"])
        self.dropped += int(marker["dropped"])


class HistoryWriter:
    """Appends lines for one process; flushes at least every ``flush_every`` seconds."""

    def __init__(self, path: Path, flush_every: float = 0.2) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._buffer: list[bytes] = []
        self._flush_every = flush_every
        self._flushed = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        self._buffer.append(orjson.dumps(record) + b"\n")
        if time.monotonic() - self._flushed >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            self._buffer.clear()
        self._file.flush()
        self._flushed = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._file.close()


class HistoryTail:
    """Reads whatever complete lines were added to a history folder since the last call."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._offsets: dict[Path, int] = {}
        self.started: float | None = None  # earliest 'start' marker seen (epoch seconds)
        self.arrivals = Arrivals()  # the 'arrivals' markers seen, summed (open loop)

    def read(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        for path in sorted(self.folder.glob("*.jsonl")):
            with open(path, "rb") as f:
                f.seek(self._offsets.get(path, 0))
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # a torn last line waits for the next call
            self._offsets[path] = self._offsets.get(path, 0) + end
            for line in chunk[:end].splitlines():
                record = orjson.loads(line)
                if "event" in record:
                    if record["event"] == "start":
                        at = float(record["at"])
                        self.started = at if self.started is None else min(self.started, at)
                    elif record["event"] == "arrivals":
                        self.arrivals.add(record)
                    continue
                ops.append(record)
        return ops


def read_history(folder: Path) -> Iterator[dict[str, Any]]:
    """Every operation in a history folder (markers and a torn last line skipped)."""
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if "event" not in record:
                yield record


def read_arrivals(folder: Path) -> Iterator[dict[str, Any]]:
    """Every ``arrivals`` marker in a history folder (an open loop's, one per second and process)."""
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, "rb") as lines:  # line by line: an hour's history is large
            for line in lines:
                if line.startswith(_ARRIVALS):  # most lines are operations: skip them unparsed
                    try:
                        yield orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue


def arrival_totals(folder: Path) -> Arrivals | None:
    """The arrivals of a history folder, summed; None when it holds none (a closed-loop load)."""
    totals, seen = Arrivals(), False
    for marker in read_arrivals(folder):
        totals.add(marker)
        seen = True
    return totals if seen else None


@dataclass(frozen=True)
class Window:
    """Statistics of the operations that ended within the last ``seconds``."""

    seconds: float
    count: int
    rps: float
    error_rate: float  # failed or unknown, as a fraction of all
    p50: float
    p95: float
    p99: float

    def metric(self, name: str) -> float:
        return float(getattr(self, name))


class LiveStats:
    """A sliding window over operations as they arrive, for progress and guards."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self.total = 0
        self.errors = 0
        self._recent: deque[tuple[float, float, bool, str]] = deque()  # end, latency, error, kind

    def add(self, ops: Iterable[dict[str, Any]]) -> None:
        for op in ops:
            error = op["outcome"] != "ok" and not op.get("expected")
            self.total += 1
            self.errors += error
            self._recent.append((op["end"], latency(op), error, op["kind"]))

    def window(self, now: float, seconds: float | None = None, kind: str | None = None) -> Window:
        span = seconds or self.seconds
        while self._recent and self._recent[0][0] < now - max(span, self.seconds, 60):
            self._recent.popleft()
        rows = [r for r in self._recent if r[0] > now - span and (kind is None or r[3] == kind)]
        latencies = sorted(r[1] for r in rows)
        return Window(
            seconds=span,
            count=len(rows),
            rps=len(rows) / span,
            error_rate=(sum(r[2] for r in rows) / len(rows)) if rows else 0.0,
            p50=_percentile(latencies, 50),
            p95=_percentile(latencies, 95),
            p99=_percentile(latencies, 99),
        )


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    rank = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[rank]
