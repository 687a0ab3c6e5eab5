"""The history aggregated in one streaming pass: buckets, error rates, percentiles, phases, wider buckets."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from paychaos.report._timeline import MAX_BUCKETS, Histogram, initial_width, read_timeline

T0 = 1_795_309_717.0


def _op(n: int, start: float, latency: float, *, kind: str = "pay", outcome: str = "ok",
        expected: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"id": f"op-{n}", "kind": kind, "order_id": f"order-{n}", "key": f"order:order-{n}", "amount": 100,
            "start": T0 + start, "end": T0 + start + latency, "outcome": outcome,
            "status": 200 if outcome == "ok" else 409, "payment_id": None, "payment_state": None,
            "error": None, "expected": expected}  # fmt: skip


def _write(folder: Path, name: str, lines: list[dict[str, Any]], torn: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (folder / name).write_text(text + torn)


def test_operations_land_in_one_second_buckets_by_when_they_ended(tmp_path: Path) -> None:
    history = tmp_path / "history"
    _write(history, "load-1.jsonl", [
        {"event": "start", "at": T0, "pid": 1, "process": 0},
        _op(1, 0.1, 0.2),                                   # ends at 0.3 → bucket 0
        _op(2, 0.5, 0.7),                                   # ends at 1.2 → bucket 1
        _op(3, 1.0, 0.5, outcome="timeout"),                # an error (unknown), bucket 1
        _op(4, 1.1, 0.1, kind="refund"),                    # bucket 1
    ])  # fmt: skip
    _write(history, "load-2.jsonl", [
        {"event": "start", "at": T0 + 0.05, "pid": 2, "process": 1},
        _op(5, 2.0, 0.1, kind="refund", outcome="failed", expected=True),  # a refusal the scenario expected
        _op(6, 3.2, 0.1, outcome="connection"),
    ], torn='{"id": "op-7", "kind": "pa')  # fmt: skip
    t = read_timeline(history)
    assert t.t0 == T0  # the earliest start marker
    assert t.width == 1
    assert t.x == [0.5, 1.5, 2.5, 3.5]
    assert list(t.kinds) == ["pay", "refund"]  # busiest first
    pay, refund = t.kinds["pay"], t.kinds["refund"]
    assert pay.rps == [1, 2, 0, 1]
    assert pay.error_rate == [0.0, 0.5, None, 1.0]
    assert refund.rps == [0, 1, 1, 0]
    assert refund.error_rate == [None, 0.0, 0.0, None]  # expected refusals are not errors
    assert t.total.rps == [1, 3, 1, 1]
    assert t.outcomes == {"ok": [1, 2, 0, 0], "refused": [0, 0, 1, 0], "timeout": [0, 1, 0, 0],
                          "connection": [0, 0, 0, 1]}  # fmt: skip
    assert (t.operations, t.errors, t.skipped_lines, t.files) == (6, 2, 1, 2)
    assert pay.p50[0] == pytest.approx(0.2, rel=0.03)
    assert t.first_start == T0 + 0.1
    assert t.last_end == pytest.approx(T0 + 3.3)
    kinds = {k["kind"]: k for k in t.by_kind}
    assert (kinds["pay"]["operations"], kinds["pay"]["errors"], kinds["pay"]["unknown"]) == (4, 2, 2)
    assert (kinds["refund"]["operations"], kinds["refund"]["errors"], kinds["refund"]["refused"]) == (2, 0, 1)


def test_phases_split_on_the_first_fault_and_the_last_heal(tmp_path: Path) -> None:
    history = tmp_path / "history"
    ops = [_op(i, i * 0.1, 0.01 if i < 30 or i >= 60 else 0.3, outcome="ok" if i % 10 else "failed")
           for i in range(100)]  # fmt: skip
    _write(history, "load-1.jsonl", ops)
    t = read_timeline(history, t0=T0, fault_window=(T0 + 3.0, T0 + 6.0))
    phases = {p["phase"]: p for p in t.phases}
    assert [p["phase"] for p in t.phases] == ["steady", "fault", "recovery"]
    # op i starts at 0.1 i: steady 0-29, fault 30-60 (a start at the heal still counts), recovery 61-99
    assert (phases["steady"]["operations"], phases["fault"]["operations"], phases["recovery"]["operations"]) == (
        30, 31, 39)  # fmt: skip
    assert phases["steady"]["error_rate"] == pytest.approx(3 / 30)
    assert phases["fault"]["p50"] == pytest.approx(0.3, rel=0.01)
    assert phases["recovery"]["p99"] == pytest.approx(0.01, rel=0.01)


def test_a_fault_never_healed_lasts_to_the_end(tmp_path: Path) -> None:
    _write(tmp_path / "h", "load-1.jsonl", [_op(i, i, 0.01) for i in range(10)])
    t = read_timeline(tmp_path / "h", t0=T0, fault_window=(T0 + 5.0, math.inf))
    assert [(p["phase"], p["operations"]) for p in t.phases] == [("steady", 5), ("fault", 5)]


def test_long_runs_get_wider_buckets_whatever_the_order_of_lines(tmp_path: Path) -> None:
    rng = random.Random(7)
    ops = [_op(i, i * 2.5, 0.05) for i in range(1600)]  # 4000 s
    rng.shuffle(ops)
    _write(tmp_path / "h", "load-1.jsonl", ops)
    t = read_timeline(tmp_path / "h", t0=T0)
    assert t.width == 6
    assert len(t.x) <= MAX_BUCKETS
    assert sum(r * t.width for r in t.kinds["pay"].rps) == pytest.approx(1600)
    assert t.x[0] == 3.0
    told = read_timeline(tmp_path / "h", t0=T0, expected_seconds=4000)  # the same, without re-bucketing
    assert (told.width, told.x, told.kinds["pay"].rps) == (t.width, t.x, t.kinds["pay"].rps)


def test_initial_width() -> None:
    assert [initial_width(s) for s in (None, 0, 10, 720, 721, 3600, 7200, 10**7, 10**9)] == [
        1,
        1,
        1,
        1,
        2,
        6,
        12,
        21600,
        86400,
    ]


def test_without_markers_time_zero_is_the_first_operation(tmp_path: Path) -> None:
    _write(tmp_path / "h", "load-1.jsonl", [_op(1, 5.0, 0.5), _op(2, 6.0, 0.5)])
    t = read_timeline(tmp_path / "h")
    assert t.t0 == T0 + 5.0
    assert t.x == [0.5, 1.5]


def test_no_history_gives_an_empty_timeline(tmp_path: Path) -> None:
    t = read_timeline(tmp_path / "nothing")
    assert (t.x, t.kinds, t.phases, t.operations, t.t0) == ([], {}, [], 0, None)


@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_histogram_quantiles_are_within_half_a_percent(q: float) -> None:
    rng = random.Random(1)
    values = sorted(rng.lognormvariate(-3, 1) for _ in range(20_000))
    h = Histogram(1.01)
    for v in values:
        h.add(v)
    exact = values[max(0, math.ceil(q * len(values)) - 1)]
    assert h.quantile(q) == pytest.approx(exact, rel=0.006)
    assert Histogram(1.01).quantile(q) is None
