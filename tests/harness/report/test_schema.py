"""results.json's schema: the sample runs match it, broken results say where, and it tracks the runner."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from harness._guards import Trip
from harness.errors import InvalidInput
from harness.faults import Backend
from harness.invariants import Verdict
from harness.report import ResultsInvalid, results_schema, validate_results
from tests.harness.report.conftest import SAMPLES, sample_results

ROOT = Path(__file__).resolve().parents[3]


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
def test_sample_runs_match_the_schema(name: str) -> None:
    validate_results(sample_results(name))


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


# -- the schema follows what the runner writes ---------------------------------------------------


def _properties(*path: str) -> set[str]:
    node = results_schema()
    for part in path:
        node = node[part]
    return set(node["properties"])


def _runner_function(name: str) -> ast.FunctionDef:
    tree = ast.parse((ROOT / "harness" / "runner.py").read_text())
    run = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "_Run")
    return next(n for n in run.body if isinstance(n, ast.FunctionDef) and n.name == name)


def _dict_keys(node: ast.Dict) -> set[str]:
    return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}


def test_schema_has_every_top_level_field_the_runner_writes() -> None:
    function = _runner_function("_results")
    returned = next(n.value for n in ast.walk(function) if isinstance(n, ast.Return))
    assert isinstance(returned, ast.Dict)
    assert _dict_keys(returned) | {"schema_version"} == _properties()
    assert set(results_schema()["required"]) == _properties()
    nested = {
        k.value: v for k, v in zip(returned.keys, returned.values, strict=True) if isinstance(k, ast.Constant)
    }
    for field in ("experiment", "target"):
        value = nested[field]
        assert isinstance(value, ast.Dict)
        assert _dict_keys(value) == _properties("properties", field), field
    appended = next(
        n for n in ast.walk(function) if isinstance(n, ast.Dict) and "applied_at" in _dict_keys(n)
    )
    assert _dict_keys(appended) == _properties("$defs", "fault")


def test_schema_phase_matches_the_runner_phase_record() -> None:
    function = _runner_function("_phase")
    record = next(n for n in ast.walk(function) if isinstance(n, ast.Dict))
    assert _dict_keys(record) == _properties("$defs", "phase")


def test_schema_verdict_trip_and_backend_match_their_as_json() -> None:
    assert set(Verdict("x", "holds").as_json()) == _properties("$defs", "verdict")
    assert set(Trip(0, "rps", 1.0, 0.5, 3.0, 1.0).as_json()) == _properties("$defs", "trip")
    assert set(Backend("embedded", "http://127.0.0.1:1", "2.12.0", "pid 1").describe()) == _properties(
        "$defs", "backend"
    )


def test_the_schema_ships_with_the_package() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"*.json"' in pyproject.split("[tool.setuptools.package-data]")[1].split("\n\n")[0]
    assert json.loads((ROOT / "harness" / "report" / "results.schema.json").read_text()) == results_schema()
