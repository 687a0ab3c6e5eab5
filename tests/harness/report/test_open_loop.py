"""An open-loop run in the report: latency from the intended start, arrivals per second, dropped arrivals said."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from paychaos._results_model import ArrivalsCounted, Operation, Results
from paychaos.report import rebuild, run_summary, validate_results
from paychaos.report._timeline import read_timeline
from tests.harness.report.test_html import charts_of

T0 = 1_795_309_717.0


def _op(t0: float, n: int, start: float, latency: float, intended: float | None = None) -> dict[str, Any]:
    op = {"id": f"op-9-{n}", "kind": "pay", "order_id": None, "key": None, "amount": None, "start": t0 + start,
          "end": t0 + start + latency, "outcome": "ok", "status": 200, "payment_id": None, "payment_state": None,
          "error": None, "expected": False}  # fmt: skip
    if intended is not None:
        op["intended"] = t0 + intended
    return op


def _arrivals(t0: float, second: int, offered: int, started: int, process: int = 0) -> dict[str, Any]:
    return {"event": "arrivals", "at": t0 + second, "process": process, "offered": offered, "started": started,
            "dropped": offered - started}  # fmt: skip


def _history(folder: Path, t0: float = T0) -> list[dict[str, Any]]:
    lines = [
        {"event": "start", "at": t0, "pid": 9, "process": 0},
        _op(t0, 1, 0.0, 0.1, intended=0.0),
        _op(t0, 2, 0.5, 0.1, intended=0.1),  # due at 0.1 s, started at 0.5 s: 0.5 s late
        _op(t0, 3, 0.6, 0.1),  # the same iteration's second operation
        _arrivals(t0, 0, 10, 8),
        _op(t0, 4, 1.2, 0.1, intended=1.2),
        _arrivals(t0, 1, 10, 10),
        _arrivals(t0, 0, 10, 4, process=1),
        _arrivals(t0, 1, 10, 10, process=1),
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "load-9.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return lines


def test_the_history_lines_of_an_open_loop_are_models(tmp_path: Path) -> None:
    lines = _history(tmp_path)
    ops = [Operation.model_validate(line) for line in lines if "event" not in line]
    markers = [ArrivalsCounted.model_validate(line) for line in lines if line.get("event") == "arrivals"]
    assert [op.intended is not None for op in ops] == [True, True, False, True]
    assert sum(m.offered for m in markers) == sum(m.started + m.dropped for m in markers) == 40


def test_latency_runs_from_the_intended_start_and_arrivals_are_counted_per_second(tmp_path: Path) -> None:
    _history(tmp_path)
    t = read_timeline(tmp_path)
    assert t.x == [0.5, 1.5]
    assert t.arrivals == {"offered": [20, 20], "started": [12, 20], "dropped": [8, 0]}
    assert t.arrived == {"offered": 40, "started": 32, "dropped": 8}
    (phase,) = t.phases
    assert phase["p99"] == pytest.approx(0.5, rel=0.02)  # op 2: due at 0.1 s, ended at 0.6 s
    assert phase["p50"] == pytest.approx(0.1, rel=0.02)


def test_a_closed_loop_timeline_has_no_arrivals(sample_run: Callable[[str], Path]) -> None:
    t = read_timeline(sample_run("passing-hello") / "history")
    assert t.arrivals == {}
    assert t.arrived == {}


def _open_loop_run(sample_run: Callable[[str], Path]) -> Path:
    """A sample run with an open loop's lines added to its history, and its results saying so."""
    run = sample_run("passing-hello")
    results = json.loads((run / "results.json").read_text())
    _history(run / "history", t0=results["load_started_at"])
    load = {**results["load"], "arrival_rate": 20.0, "offered": 40, "started": 32, "dropped": 8}
    (run / "results.json").write_text(json.dumps({**results, "load": load}))
    return run


def test_the_report_charts_offered_started_and_dropped_arrivals(sample_run: Callable[[str], Path]) -> None:
    run = _open_loop_run(sample_run)
    results = rebuild(run)
    validate_results(results)
    figure = charts_of((run / "report.html").read_text())["timeline"]
    arrivals = {t["name"]: t for t in figure["data"] if t.get("yaxis") == "y5"}
    assert sorted(arrivals) == ["arrivals dropped (every user busy)", "arrivals offered (target)",
                                "arrivals started"]  # fmt: skip
    assert figure["layout"]["yaxis5"]["title"]["text"] == "arrivals/s"
    html = (run / "report.html").read_text()
    assert "Open loop: 40 arrivals offered, 32 started, 8 dropped" in html


def test_dropped_arrivals_are_said_at_the_end_of_a_run(sample_run: Callable[[str], Path]) -> None:
    run = _open_loop_run(sample_run)
    results = Results.model_validate(json.loads((run / "results.json").read_text()))
    assert run_summary(results).endswith("8 of 40 arrivals dropped (every user busy; raise load.max_users?)")
    assert "8 of 40 arrivals dropped" in run_summary(results, full=True)
    closed = Results.model_validate(
        json.loads((sample_run("failing-retry-new-key") / "results.json").read_text())
    )
    assert "dropped" not in run_summary(closed, full=True)


def test_a_rebuilt_open_loop_run_counts_its_arrivals(sample_run: Callable[[str], Path]) -> None:
    run = _open_loop_run(sample_run)
    (run / "results.json").unlink()
    results = rebuild(run)
    validate_results(results)
    assert {k: results["load"][k] for k in ("offered", "started", "dropped")} == {
        "offered": 40,
        "started": 32,
        "dropped": 8,
    }
