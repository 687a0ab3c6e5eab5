"""``paychaos schema``: the schemas it prints accept every file paychaos accepts, and refuse plain mistakes.

The files are read as the loader reads them (``paychaos._yaml.load_yaml``) and checked with
``jsonschema`` against what a real ``paychaos schema`` process prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from paychaos._yaml import load_yaml, validate_located
from paychaos.errors import InvalidInput
from paychaos.experiment import Experiment
from paychaos.report import results_schema
from paychaos.system import Target
from tests.conftest import ROOT

HOSTILE = ROOT / "tests" / "harness" / "experiment" / "hostile"
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
RUN_COPIES = sorted((ROOT / "tests" / "harness" / "report" / "fixtures").glob("*/experiment.yaml"))
TARGETS = sorted((ROOT / "targets").glob("*/target.yaml"))
# YAML can say what JSON cannot: !!binary is bytes, which pydantic reads as text and JSON has no word for.
NOT_JSON = {"ok-yaml-tag-binary-odd.yaml"}


def _printed(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "schema", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


@pytest.fixture(scope="module")
def experiment_schema() -> Draft202012Validator:
    schema = _printed()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def target_schema() -> Draft202012Validator:
    schema = _printed("target")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _data(path: Path) -> Any:
    return load_yaml(path).data


def _problems(validator: Draft202012Validator, data: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def _model_accepts(path: Path, model: type[Experiment] | type[Target]) -> bool | None:
    """Whether the model takes the file (None: not even YAML the loader reads)."""
    try:
        located = load_yaml(path)
    except InvalidInput:
        return None
    try:
        validate_located(located, model)
    except InvalidInput:
        return False
    return True


# -- every file paychaos accepts matches -----------------------------------------------------------


def test_the_repository_holds_the_files_checked_here() -> None:
    assert len(EXPERIMENTS) >= 8
    assert len(RUN_COPIES) >= 10  # the report's fixtures: one run of each incident kind
    assert ROOT / "targets" / "paystack" / "target.yaml" in TARGETS
    assert ROOT / "targets" / "walletpay" / "target.yaml" in TARGETS


@pytest.mark.parametrize("path", EXPERIMENTS + RUN_COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_experiment_matches_the_schema(
    path: Path, experiment_schema: Draft202012Validator
) -> None:
    assert _problems(experiment_schema, _data(path)) == []


@pytest.mark.parametrize("path", TARGETS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_target_matches_the_schema(path: Path, target_schema: Draft202012Validator) -> None:
    assert _problems(target_schema, _data(path)) == []


def test_every_hostile_experiment_the_model_accepts_matches_the_schema(
    experiment_schema: Draft202012Validator,
) -> None:
    accepted = [p for p in sorted(HOSTILE.glob("*.yaml")) if _model_accepts(p, Experiment)]
    assert len(accepted) > 30
    refused = {p.name: _problems(experiment_schema, _data(p)) for p in accepted if p.name not in NOT_JSON}
    assert {name: found for name, found in refused.items() if found} == {}


@pytest.mark.parametrize("name", ["a-list.yaml", "command-empty.yaml", "empty.yaml", "port-huge.yaml"])
def test_hostile_targets_the_model_refuses_the_schema_refuses(
    name: str, target_schema: Draft202012Validator
) -> None:
    path = HOSTILE / "targets" / name
    assert _model_accepts(path, Target) is False
    assert _problems(target_schema, _data(path)) != []


# -- plain mistakes the loader refuses are refused by the schema too -------------------------------

HELLO = {
    "name": "hello",
    "target": {"path": "../targets/paystack"},
    "load": {"users": 10, "duration": "20s"},
    "faults": [
        {"at": "5s", "duration": "10s", "link": "gateway_bank", "toxic": "latency", "latency": "300ms"}
    ],
    "invariants": ["exactly_once_debit", {"no_stuck_orders": {"within": "60s"}}],
    "exclude": {"payouts_once": "no payouts in this load"},
    "coverage": {"voids": ">= 1", "declines": 2},
    "guards": [{"metric": "error_rate", "above": "50%", "for": "3s"}, {"metric": "p99", "above": "2s"}],
    "quick": {"scale": 0.5, "settle": "10s"},
}


def _with(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(HELLO))
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def test_the_written_forms_match(experiment_schema: Draft202012Validator) -> None:
    assert _problems(experiment_schema, HELLO) == []
    Experiment.model_validate(HELLO)  # and the model takes the same


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("surprise",), 1),
        (("name",), "Hello World"),
        (("target",), "../targets/paystack"),
        (("target", "path"), "  "),
        (("load", "duration"), "10 parsecs"),
        (("load", "duration"), 10),
        (("load", "duration"), "0s"),
        (("load", "master_bind"), "127.0.0.1:99999"),
        (("load", "shape"), "ramp"),
        (("faults", 0, "latency"), "300"),
        (("faults", 0, "toxicity"), 2),
        (("faults", 0, "lnk"), "gateway_bank"),
        (("invariants", 0), ["exactly_once_debit"]),
        (("invariants", 1), {"no_stuck_orders": {}, "eventual_refund": {}}),
        (("invariants", 1), {"no_stuck_orders": 60}),
        (("exclude", "payouts_once"), "n/a"),
        (("coverage", "voids"), ">= some"),
        (("coverage", "voids"), -1),
        (("guards", 0, "above"), "half"),
        (("quick", "settle"), "10"),
    ],
    ids=lambda v: json.dumps(v) if not isinstance(v, tuple) else ".".join(map(str, v)),
)
def test_a_mistake_the_model_refuses_is_refused_by_the_schema(
    path: tuple[str | int, ...], value: Any, experiment_schema: Draft202012Validator
) -> None:
    data = _with(path, value)
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError, whatever its message
        Experiment.model_validate(data)
    assert _problems(experiment_schema, data) != []


@pytest.mark.parametrize(
    "name",
    [
        "name-uppercase.yaml",
        "name-81-characters.yaml",
        "duration-load-no-unit.yaml",
        "duration-load-days.yaml",
        "duration-load-0s.yaml",
        "duration-stage-0s.yaml",
        "duration-settle-poll-0s.yaml",
        "faults-toxicity-two.yaml",
        "faults-null-items.yaml",
        "load-master-bind-port-too-big.yaml",
        "load-stages-empty.yaml",
        "coverage-huge-requirement.yaml",
        "report-out-nul.yaml",
        "target-path-empty.yaml",
        "target-string.yaml",
        "seed-a-list.yaml",
    ],
)
def test_hostile_files_the_model_refuses_the_schema_refuses(
    name: str, experiment_schema: Draft202012Validator
) -> None:
    path = HOSTILE / name
    assert _model_accepts(path, Experiment) is False
    assert _problems(experiment_schema, _data(path)) != []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "bank", "start_timeout"), "30 seconds"),
        (("services", "bank", "port"), 70000),
        (("links", "Bad Name"), {"from": "gateway", "to": "bank"}),
        (("surprise",), True),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, tuple) else json.dumps(v),
)
def test_a_target_mistake_is_refused_by_the_schema(
    path: tuple[str, ...], value: Any, target_schema: Draft202012Validator
) -> None:
    data = _data(ROOT / "targets" / "paystack" / "target.yaml")
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(ValueError):  # noqa: PT011 - pydantic's ValidationError, whatever its message
        Target.model_validate(data)
    assert _problems(target_schema, data) != []


# -- the command itself ------------------------------------------------------------------------------


def test_schema_results_prints_the_shipped_results_schema() -> None:
    assert _printed("results") == results_schema()


def test_schema_refuses_an_unknown_kind() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "paychaos.cli", "schema", "experiments"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'experiments' is not one of 'experiment', 'target', 'results'" in result.stderr


def test_schema_target_is_also_spelled_as_a_flag() -> None:
    assert _printed("--target") == _printed("target")
    assert _printed("--results") == _printed("results")
