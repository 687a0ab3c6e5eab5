"""results.json's schema: generated from the models, the sample runs match it, broken results say where,
and the models track what the runner writes."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter, ValidationError

from paychaos._results_model import (
    BackendRecord,
    ExperimentRecord,
    FaultEvent,
    FaultRecord,
    LoadStarted,
    Operation,
    PhaseRecord,
    Results,
    TargetRecord,
    TripRecord,
    VerdictRecord,
)
from paychaos.errors import InvalidInput
from paychaos.faults import Backend
from paychaos.invariants import Verdict
from paychaos.report import ResultsInvalid, results_schema, validate_results
from paychaos.report._schema import SHIPPED, generated_schema, schema_text
from paychaos.report.write_schema import main as write_schema
from paychaos.run._guards import Trip
from tests.harness.report.conftest import FIXTURES, SAMPLES, sample_results

ROOT = Path(__file__).resolve().parents[3]
# Fields a run writes that results.json version 1 gained later: optional, so older results still read.
ADDED_SINCE = {
    "Results": {"settle", "baseline", "violations", "traffic", "not_checked"},
    "TargetRecord": {"currency"},
    "ExperimentRecord": set(),
}


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = results_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_property_has_a_description() -> None:
    def walk(node: Any, where: str) -> list[str]:
        missing = []
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if "description" not in sub and "$ref" not in sub:
                    missing.append(f"{where}.{name}")
            for key, sub in node.items():
                missing += walk(sub, f"{where}.{key}")
        return missing

    assert walk(results_schema(), "") == []


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_runs_match_the_schema_and_the_models(name: str) -> None:
    validate_results(sample_results(name))
    Results.model_validate(sample_results(name))


def test_a_run_that_failed_early_matches_the_schema() -> None:
    results = sample_results("passing-hello")
    results.update(status="error", verdict="error", exit_code=3, error="steady state not reached: bank is not healthy",
                   load_started_at=None, load={}, faults=[], invariants=[], backend=None, guard=None,
                   versions={"paychaos": "0.1.0", "python": "3.11.7"})  # fmt: skip
    results["phases"][-1]["status"] = "failed"
    validate_results(results)


def test_a_tripped_guard_matches_the_schema() -> None:
    results = sample_results("passing-hello")
    results["status"] = "aborted"
    results["guard"] = Trip(0, "error_rate", 0.5, 0.8, 6.2, 1.1).as_json()
    validate_results(results)


def test_problems_are_listed_with_where_and_why() -> None:
    results = sample_results("failing-retry-new-key")
    broken = copy.deepcopy(results)
    del broken["command"]
    broken["invariants"][1]["status"] = "maybe"
    broken["phases"][0]["started"] = "yesterday"
    broken["guard"] = {"guard": 0, "metric": "rps", "threshold": 1, "value": 0.5, "at": 3, "since": 1}
    with pytest.raises(ResultsInvalid) as caught:
        validate_results(broken)
    assert isinstance(caught.value, InvalidInput)  # the CLI maps it to exit code 2
    assert caught.value.problems == [
        "(top level): 'command' is a required property",
        "guard: 'message' is a required property",
        "invariants[1].status: 'maybe' is not one of ['holds', 'violated', 'could_not_check']",
        "phases[0].started: 'yesterday' is not of type 'number'",
    ]
    assert "4 problem(s)" in str(caught.value)


def test_an_unknown_field_or_another_schema_version_is_refused() -> None:
    results = sample_results("passing-hello")
    with pytest.raises(ResultsInvalid, match="Additional properties are not allowed"):
        validate_results({**results, "surprise": 1})
    with pytest.raises(ResultsInvalid, match="schema_version 2; this paychaos reads version 1"):
        validate_results({**results, "schema_version": 2})
    with pytest.raises(ResultsInvalid, match="is not of type 'object'"):
        validate_results([])


# -- the shipped schema is the generated one ----------------------------------------------------


def test_the_shipped_schema_is_what_the_models_generate() -> None:
    # A model changed without `python -m paychaos.report.write_schema` fails here.
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(), "run: python -m paychaos.report.write_schema"
    assert results_schema() == generated_schema()
    assert write_schema(["--check"]) == 0


def test_write_schema_check_fails_on_a_stale_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "results.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr("paychaos.report.write_schema.SHIPPED", stale)
    assert write_schema(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert write_schema([]) == 0
    assert stale.read_text() == schema_text()


def test_the_schema_ships_with_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"*.json"' in pyproject.split("[tool.setuptools.package-data]")[1].split("\n\n")[0]
    assert json.loads((ROOT / "harness" / "report" / "results.schema.json").read_text()) == results_schema()


def test_the_models_refuse_what_the_schema_refuses() -> None:
    results = sample_results("failing-retry-new-key")
    for broken in (
        {**results, "surprise": 1},
        {**results, "exit_code": 2},
        {**results, "verdict": "passed"},
        {**results, "started_at": "yesterday"},
        {**results, "load": {"operations": None}},
        {**results, "versions": {"paychaos": "0.1.0"}},
        {**results, "invariants": [{**results["invariants"][0], "status": "maybe"}]},
        {**results, "invariants": [{**results["invariants"][0], "checked": "12"}]},
    ):
        with pytest.raises(ResultsInvalid):
            validate_results(broken)
        with pytest.raises(ValidationError):
            Results.model_validate(broken)


# -- the models follow what the runner writes ---------------------------------------------------


def _fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def _method(module: str, cls: str, name: str) -> ast.FunctionDef:
    tree = ast.parse((ROOT / "harness" / "run" / module).read_text())
    owner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return next(n for n in owner.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _dict_keys(node: ast.Dict) -> set[str]:
    return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def test_the_models_have_every_field_the_runner_writes() -> None:
    function = _method("_record.py", "RunRecord", "results")
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    assert isinstance(returned, ast.Dict)
    assert _dict_keys(returned) | {"schema_version"} == _fields(Results)
    # Every field is required, but those added to version 1 since (absent from older results)
    assert set(results_schema()["required"]) == _fields(Results) - ADDED_SINCE["Results"]
    nested = {
        k.value: v for k, v in zip(returned.keys, returned.values, strict=True) if isinstance(k, ast.Constant)
    }
    for field, model in (("experiment", ExperimentRecord), ("target", TargetRecord)):
        value = nested[field]
        assert isinstance(value, ast.Dict)
        assert _dict_keys(value) == _fields(model), field
        required = set(results_schema()["$defs"][model.__name__]["required"])
        assert required == _fields(model) - ADDED_SINCE[model.__name__], field
    faults = _method("_schedule.py", "FaultSchedule", "as_json")
    appended = next(n for n in ast.walk(faults) if isinstance(n, ast.Dict) and "applied_at" in _dict_keys(n))
    assert _dict_keys(appended) == _fields(FaultRecord)


def test_the_phase_model_matches_the_runner_phase_record() -> None:
    function = _method("_record.py", "PhaseLog", "__call__")
    record = next(n for n in ast.walk(function) if isinstance(n, ast.Dict))
    assert _dict_keys(record) == _fields(PhaseRecord)


def test_verdict_trip_and_backend_as_json_are_their_models() -> None:
    verdict = Verdict(
        "x", "violated", count=1, examples=[{"order_id": "o1"}], checked=3, params={"within": 60}
    )
    assert VerdictRecord.model_validate(verdict.as_json()).count == 1
    trip = Trip(0, "rps", 1.0, 0.5, 3.0, 1.0).as_json()
    assert TripRecord.model_validate(trip).message == trip["message"]
    backend = Backend("embedded", "http://127.0.0.1:1", "2.12.0", "pid 1").describe()
    assert BackendRecord.model_validate(backend).kind == "embedded"


# -- the journals' lines are models too -----------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_history_line_of_the_sample_runs_is_an_operation(name: str) -> None:
    lines = [json.loads(line) for path in sorted((FIXTURES / name / "history").glob("*.jsonl"))
             for line in path.read_text().splitlines()]  # fmt: skip
    markers = [LoadStarted.model_validate(line) for line in lines if "event" in line]
    operations = [Operation.model_validate(line) for line in lines if "event" not in line]
    assert markers
    assert operations
    assert all(op.end >= op.start for op in operations)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_fault_journal_line_of_the_sample_runs_is_a_fault_event(name: str) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(FaultEvent)
    events = [
        adapter.validate_json(line) for line in (FIXTURES / name / "faults.jsonl").read_text().splitlines()
    ]
    assert {type(e).__name__ for e in events} >= {"FaultApplied", "FaultHealed"}
