"""`paychaos compare` and the comparison behind it, over the sample runs: figures per phase, splits, the
slo invariant's vs_baseline gate, and results.json's baseline."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from paychaos._results_model import Results
from paychaos.cli import main
from paychaos.compare import (
    RunSide,
    baseline_record,
    check_gate,
    compare_runs,
    figures,
    gate_reason,
    percentile,
    read_run,
)
from paychaos.errors import InvalidInput
from paychaos.invariants._custom import SloParams
from paychaos.report import validate_results
from tests.harness.report.conftest import FIXTURES

HELLO = FIXTURES / "passing-hello"
RETRY = FIXTURES / "failing-retry-new-key"


def _without_faults(tmp_path: Path, name: str = "passing-hello") -> Path:
    """A copy of a sample run as if it had applied no fault: a baseline of the same load."""
    run = Path(shutil.copytree(FIXTURES / name, tmp_path / f"{name}-baseline"))
    (run / "faults.jsonl").write_text("")
    results = json.loads((run / "results.json").read_text())
    results["faults"] = []
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_percentiles_are_postgresqls_percentile_cont() -> None:
    assert percentile([0.1], 0.99) == 0.1
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.95) == pytest.approx(4.8)
    assert percentile([], 0.5) is None


def test_figures_per_phase_count_errors_as_the_slo_does_and_latency_from_when_it_was_due() -> None:
    ops = [
        {"start": 100.5, "end": 100.6, "outcome": "ok", "kind": "pay"},
        {"start": 101.0, "end": 101.5, "outcome": "failed", "expected": True, "kind": "pay"},  # a refusal
        {"start": 103.0, "end": 104.0, "outcome": "timeout", "kind": "pay"},  # fault
        {"start": 106.0, "end": 106.2, "outcome": "ok", "intended": 105.8, "kind": "refund"},  # recovery
    ]
    from paychaos.compare import Bounds

    found = {f.phase: f for f in figures(ops, 100.0, Bounds(2.0, 5.0), load_seconds=8.0)}
    assert [*found] == ["steady", "fault", "recovery", "all"]
    assert (found["steady"].operations, found["steady"].error_rate, found["steady"].seconds) == (2, 0.0, 2.0)
    assert found["steady"].throughput == 1.0
    assert (found["fault"].error_rate, found["fault"].p50, found["fault"].seconds) == (1.0, 1.0, 3.0)
    assert found["recovery"].p99 == pytest.approx(0.4)  # from when its iteration was due
    assert (found["all"].operations, found["all"].error_rate, found["all"].seconds) == (4, 0.25, 8.0)
    only = figures(ops, 100.0, Bounds(2.0, 5.0), load_seconds=8.0, kind="refund")
    assert [f.phase for f in only] == ["recovery", "all"]


def test_a_run_compared_with_itself_changes_nothing() -> None:
    comparison = compare_runs(HELLO, HELLO)
    assert [p.phase for p in comparison.phases] == ["steady", "fault", "recovery", "all"]
    assert (comparison.a_split, comparison.b_split) == ("own faults", "own faults")
    for pair in comparison.phases:
        assert all(pair.change(m) == 0 for m in ("throughput", "error_rate", "p50", "p95", "p99")), pair
    assert comparison.notes == []
    results = json.loads((HELLO / "results.json").read_text())
    operations = sum(1 for line in next((HELLO / "history").glob("*.jsonl")).read_text().splitlines()
                     if '"event"' not in line)  # fmt: skip
    assert comparison.phases[-1].a is not None
    assert comparison.phases[-1].a.operations == operations
    assert comparison.phases[-1].a.seconds == results["load"]["seconds"]
    assert [v.invariant for v in comparison.invariants] == [v["invariant"] for v in results["invariants"]]


def test_a_run_without_faults_is_split_at_the_other_runs_fault_times(tmp_path: Path) -> None:
    baseline = _without_faults(tmp_path)
    comparison = compare_runs(baseline, HELLO)
    assert (comparison.a_split, comparison.b_split) == ("the other run's faults", "own faults")
    # the same history split at the same seconds after the load started: the same figures
    assert [(p.phase, p.a) for p in comparison.phases] == [(p.phase, p.b) for p in comparison.phases]
    assert [p.phase for p in comparison.phases] == ["steady", "fault", "recovery", "all"]
    alone = read_run(baseline)
    assert [f.phase for f in alone.figures(alone.bounds)] == ["steady", "all"]  # no fault: all steady


def test_different_runs_say_what_differs_and_by_how_much() -> None:
    comparison = compare_runs(HELLO, RETRY)
    assert comparison.notes == [
        "different experiments: A is hello, B is double-debit-retry-storm",
        "different seeds: A 42, B 1111",
        "different defects: A none, B retry-new-key",
    ]
    fault = next(p for p in comparison.phases if p.phase == "fault")
    assert fault.ratio("p99") == pytest.approx(3.41, abs=0.01)
    assert fault.change("p99") == pytest.approx(0.7764, abs=1e-3)
    verdicts = {v.invariant: (v.a, v.b) for v in comparison.invariants}
    assert verdicts["exactly_once_debit"] == (("holds", 0), ("violated", 64))
    assert verdicts["slo"] == (("holds", 0), None)  # the second run did not check it
    data = comparison.as_json()
    assert data["b"]["verdict"] == "violated"
    assert data["phases"][1]["ratio"]["p99"] == pytest.approx(fault.ratio("p99"))


# -- the gate ------------------------------------------------------------------------------------


def _rows(run: RunSide) -> list[dict[str, Any]]:
    """A run's figures as the slo invariant's details.phases rows."""
    return [{"phase": f.phase, **f.as_json()} for f in run.figures(run.bounds) if f.phase != "all"]


def test_a_run_slower_than_its_baseline_beyond_the_gate_is_a_located_violation() -> None:
    base, slow = read_run(HELLO), read_run(RETRY)
    gate = SloParams.model_validate({"vs_baseline": {"p99": "2x", "error_rate": "+1%"}})
    assert gate.vs_baseline is not None
    rows = check_gate(_rows(slow), base.figures(base.bounds), gate.vs_baseline.limits(), gate.phases)
    assert [(r["phase"], r["metric"], r["gate"]) for r in rows] == [
        ("steady", "p99", "2x"), ("fault", "p99", "2x"), ("recovery", "p99", "2x")]  # fmt: skip
    fault = rows[1]
    assert fault["value"] > 2 * fault["baseline"] == fault["limit"]
    assert gate_reason(fault) == ("fault: p99 1098.0 ms vs the baseline's 321.6 ms (more than 2× the "
                                  "baseline's, at most 643.2 ms)")  # fmt: skip
    # the same runs the other way round: the faster one is within any gate
    assert check_gate(_rows(base), slow.figures(slow.bounds), gate.vs_baseline.limits(), gate.phases) == []
    # only the phases the slo names
    assert check_gate(_rows(slow), base.figures(base.bounds), {"p99": 2.0}, ["fault"])[0]["phase"] == "fault"


def test_the_error_rate_gate_is_points_above_the_baseline() -> None:
    base = read_run(HELLO)
    rows = _rows(base)
    rows[1] = {**rows[1], "error_rate": 0.0105}  # the fault phase: 1.05% failed, the baseline none
    (row,) = check_gate(
        rows, base.figures(base.bounds), {"error_rate": 0.01}, ["steady", "fault", "recovery"]
    )
    assert (row["phase"], row["metric"], row["baseline"], row["gate"]) == ("fault", "error_rate", 0.0, "+1%")
    assert gate_reason(row) == ("fault: error_rate 1.05% vs the baseline's 0.00% (more than 1% points above, "
                                "at most 1.00%)")  # fmt: skip
    rows[1] = {**rows[1], "error_rate": 0.0099}
    assert check_gate(rows, base.figures(base.bounds), {"error_rate": 0.01}, ["fault"]) == []


@pytest.mark.parametrize(
    ("written", "limits"),
    [
        ({"p99": "2x", "error_rate": "+1%"}, {"error_rate": 0.01, "p50": None, "p95": None, "p99": 2.0}),
        ({"p50": 1.5, "p95": "3 ×"}, {"error_rate": None, "p50": 1.5, "p95": 3.0, "p99": None}),
        ({"error_rate": 0.005}, {"error_rate": 0.005, "p50": None, "p95": None, "p99": None}),
        ({"error_rate": "0.5%"}, {"error_rate": 0.005, "p50": None, "p95": None, "p99": None}),
    ],
)
def test_gates_are_written_as_factors_and_points(written: dict[str, Any], limits: dict[str, Any]) -> None:
    params = SloParams.model_validate({"vs_baseline": written})
    assert params.vs_baseline is not None
    assert params.vs_baseline.limits() == limits
    # what results.json and the evidence manifest keep reads back the same (verify checks it again)
    again = SloParams.model_validate(params.model_dump(mode="json"))
    assert again == params


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ({"p99": "twice"}, "a latency gate is a factor of the baseline's, e.g. 2x"),
        ({"p99": "2s"}, "a latency gate is a factor of the baseline's, e.g. 2x"),
        ({"error_rate": "1 point"}, "an error-rate gate is points over the baseline's, e.g. +1%"),
        ({"error_rate": "+150%"}, "less than or equal to 1"),
        ({"p99": 0}, "greater than 0"),
        ({}, "vs_baseline gates p50, p95, p99 (e.g. 2x) or error_rate (e.g. +1%); give one"),
        ({"rps": "2x"}, "Extra inputs are not permitted"),
    ],
)
def test_a_gate_that_is_no_gate_is_refused(written: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        SloParams.model_validate({"vs_baseline": written})


# -- results.json --------------------------------------------------------------------------------


def test_results_json_records_the_baseline_and_both_runs_figures(tmp_path: Path) -> None:
    baseline = _without_faults(tmp_path)
    run = Path(shutil.copytree(HELLO, tmp_path / "passing-hello"))
    results = json.loads((run / "results.json").read_text())
    record = baseline_record(run, results, baseline, auto=True)
    assert (record["run_dir"], record["link"]) == (str(baseline), "../passing-hello-baseline")
    assert (record["auto"], record["verdict"], record["faults"], record["split"]) == (
        True, "held", 0, "this run's faults")  # fmt: skip
    assert [p["phase"] for p in record["phases"]] == ["steady", "fault", "recovery", "all"]
    assert all(p["run"] == p["baseline"] for p in record["phases"])
    assert record["invariants"][0] == {"invariant": "exactly_once_debit", "status": "holds", "count": 0}
    validate_results({**results, "baseline": record})
    assert Results.model_validate({**results, "baseline": record}).baseline is not None
    validate_results({**results, "baseline": None})  # a run without one


# -- the command ---------------------------------------------------------------------------------


def test_compare_prints_the_phases_and_the_verdicts_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(HELLO), str(RETRY)]) == 0
    out = capsys.readouterr().out
    assert f"A {HELLO}  hello, PASSED, 1 fault(s)" in out
    assert f"B {RETRY}  double-debit-retry-storm, FAILED, 1 fault(s)" in out
    assert "note: different experiments: A is hello, B is double-debit-retry-storm" in out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "fault operations 65 75" in lines
    assert "p99 321.6 ms 1098.0 ms +776.4 ms (×3.41)" in lines
    assert "exactly_once_debit holds VIOLATED (64)" in lines
    assert "slo holds —" in lines


def test_compare_writes_json_to_stdout_or_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(HELLO), str(RETRY), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["phase"] for p in data["phases"]] == ["steady", "fault", "recovery", "all"]
    assert data["phases"][1]["a"]["p99"] < data["phases"][1]["b"]["p99"]
    assert data["invariants"][0] == {"invariant": "exactly_once_debit", "a": {"status": "holds", "count": 0},
                                     "b": {"status": "violated", "count": 64}}  # fmt: skip
    out = tmp_path / "cmp" / "comparison.json"
    assert main(["compare", str(HELLO), str(RETRY), "--json", str(out)]) == 0
    assert json.loads(out.read_text()) == data
    assert "p99" in capsys.readouterr().out  # and the tables, too


def test_compare_refuses_a_folder_that_is_no_finished_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "reports" / "20261202-101500-hello").mkdir(parents=True)
    (tmp_path / "reports" / "20261202-101500-hello" / "experiment.yaml").write_text("name: hello\n")
    assert main(["compare", str(tmp_path / "reports"), str(HELLO)]) == 2
    err = capsys.readouterr().err
    assert "is no run folder: a run folder is what `paychaos run` made" in err
    assert "20261202-101500-hello (the latest)" in err
    assert main(["compare", str(HELLO), str(tmp_path / "reports" / "20261202-101500-hello")]) == 2
    assert "holds no results.json: the run never finished" in capsys.readouterr().err
    assert main(["compare", str(HELLO), str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    broken = Path(shutil.copytree(HELLO, tmp_path / "broken"))
    (broken / "results.json").write_text('{"run_id": "x"}')
    with pytest.raises(InvalidInput, match=r"not a results\.json this paychaos reads"):
        read_run(broken)
