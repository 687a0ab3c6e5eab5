"""The history journal: written as it happens, read while it grows, summarised in sliding windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from paychaos.load import (
    HistoryTail,
    HistoryWriter,
    LiveStats,
    arrival_totals,
    latency,
    read_arrivals,
    read_history,
)


def _op(n: int, start: float, latency: float, outcome: str = "ok", **extra: object) -> dict[str, object]:
    return {
        "id": f"op-{n}",
        "kind": "pay",
        "start": start,
        "end": start + latency,
        "outcome": outcome,
        **extra,
    }


def test_lines_reach_the_file_once_flushed_and_the_tail_reads_only_new_ones(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "load-1.jsonl", flush_every=3600)
    writer.write({"event": "start", "at": 100.0})
    writer.write(_op(1, 100.0, 0.1))
    tail = HistoryTail(tmp_path)
    assert tail.read() == []  # still buffered
    writer.flush()
    assert [o["id"] for o in tail.read()] == ["op-1"]
    assert tail.started == 100.0
    writer.write(_op(2, 101.0, 0.1))
    writer.close()
    assert [o["id"] for o in tail.read()] == ["op-2"]
    assert tail.read() == []


def test_a_torn_last_line_waits_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "load-1.jsonl"
    path.write_bytes(
        b'{"id": "op-1", "kind": "pay", "start": 1, "end": 2, "outcome": "ok"}\n{"id": "op-2", "ki'
    )
    tail = HistoryTail(tmp_path)
    assert [o["id"] for o in tail.read()] == ["op-1"]
    with open(path, "ab") as f:
        f.write(b'nd": "pay", "start": 2, "end": 3, "outcome": "ok"}\n')
    assert [o["id"] for o in tail.read()] == ["op-2"]
    assert [o["id"] for o in read_history(tmp_path)] == ["op-1", "op-2"]


def test_several_processes_each_write_their_own_file(tmp_path: Path) -> None:
    for pid in (1, 2):
        with_writer = HistoryWriter(tmp_path / f"load-{pid}.jsonl")
        with_writer.write({"event": "start", "at": 50.0 + pid})
        with_writer.write(_op(pid, 60.0, 0.2))
        with_writer.close()
    tail = HistoryTail(tmp_path)
    assert sorted(o["id"] for o in tail.read()) == ["op-1", "op-2"]
    assert tail.started == 51.0  # the earliest process to start


def test_live_stats_windows() -> None:
    stats = LiveStats(seconds=5)
    now = 1000.0
    ops = [_op(i, now - 4 + i * 0.01, 0.010 + (i % 10) * 0.001) for i in range(100)]
    ops += [
        _op(200, now - 1, 0.5, "timeout"),
        _op(201, now - 1, 0.1, "failed"),
        _op(202, now - 1, 0.1, "failed", expected=True),
    ]
    ops += [_op(300, now - 30, 9.0)]  # long before the window
    stats.add(ops)
    window = stats.window(now)
    assert window.count == 103
    assert window.rps == pytest.approx(103 / 5)
    assert window.error_rate == pytest.approx(2 / 103)  # the expected refusal is not an error
    assert window.p50 == pytest.approx(0.015, abs=0.002)
    assert window.p99 == pytest.approx(0.1)  # the 102nd of 103 latencies; the single 0.5 s is above it
    assert stats.total == 104
    assert stats.window(now, kind="refund").count == 0


def _arrivals(at: float, offered: int, started: int, process: int = 0) -> dict[str, object]:
    return {"event": "arrivals", "at": at, "process": process, "offered": offered, "started": started,
            "dropped": offered - started}  # fmt: skip


def test_arrivals_lines_are_no_operations_and_are_read_apart(tmp_path: Path) -> None:
    for process in (0, 1):
        writer = HistoryWriter(tmp_path / f"load-{process}.jsonl")
        writer.write({"event": "start", "at": 100.0, "pid": 7, "process": process})
        writer.write(_op(process, 100.0, 0.1, intended=100.0))
        writer.write(_arrivals(100.0, 20, 4 + process, process))
        writer.write(_arrivals(101.0, 20, 20, process))
        writer.close()
    tail = HistoryTail(tmp_path)
    assert [o["id"] for o in tail.read()] == ["op-0", "op-1"]  # the markers are skipped as operations
    assert (tail.arrivals.offered, tail.arrivals.started, tail.arrivals.dropped) == (80, 49, 31)
    assert [o["id"] for o in read_history(tmp_path)] == ["op-0", "op-1"]
    assert [(m["process"], m["at"]) for m in read_arrivals(tmp_path)] == [(0, 100.0), (0, 101.0), (1, 100.0),
                                                                          (1, 101.0)]  # fmt: skip
    totals = arrival_totals(tmp_path)
    assert totals is not None
    assert totals.offered == totals.started + totals.dropped == 80


def test_a_closed_loop_has_no_arrivals(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "load-1.jsonl")
    writer.write(_op(1, 100.0, 0.1))
    writer.close()
    assert arrival_totals(tmp_path) is None


def test_latency_runs_from_the_intended_start_when_there_is_one() -> None:
    assert latency(_op(1, 10.0, 0.25)) == 0.25
    late = _op(2, 10.0, 0.25, intended=9.0)  # due at 9 s, every user busy until 10 s
    assert latency(late) == 1.25
    stats = LiveStats(seconds=5)
    stats.add([late])
    assert stats.window(11.0).p99 == 1.25
