"""The ``http:`` fault kind: its YAML, its checks against the target, the rule it sends the hop, its count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from paychaos.errors import InvalidInput
from paychaos.experiment import load_experiment
from paychaos.faults.kinds import HttpFaultSpec, LinkFault, spec_union
from paychaos.faults.kinds.http import affected_requests
from tests.conftest import ROOT

FAULTS = TypeAdapter(list[spec_union()])  # type: ignore[misc]


def one(mapping: dict) -> HttpFaultSpec:
    (spec,) = FAULTS.validate_python([mapping])
    assert isinstance(spec, HttpFaultSpec)
    return spec


def test_the_issue_snippet_is_an_http_fault_not_a_toxic() -> None:
    spec = one({"at": "3s", "duration": "12s", "link": "gateway_bank",
                "http": {"match": {"method": "POST", "path": "/debits"}, "action": "lose_response",
                         "probability": 0.3}})  # fmt: skip
    assert spec.link == "gateway_bank"
    assert spec.at == 3
    assert spec.duration == 12
    rule = spec.http.as_rule("f1", seed=7, label="x")
    assert rule == {"id": "f1", "label": "x", "match": {"method": "POST", "path": "/debits"},
                    "action": {"type": "lose_response", "how": "reset"},
                    "select": {"probability": 0.3}, "seed": 7}  # fmt: skip
    assert spec.describe() == "gateway_bank: http lose_response on method=POST path=/debits, probability=0.3"
    # a toxic on the same link is still a toxic
    (toxic,) = FAULTS.validate_python([{"link": "gateway_bank", "toxic": "latency", "latency": "1s"}])
    assert isinstance(toxic, LinkFault)


@pytest.mark.parametrize(
    ("http", "expected_action"),
    [
        ({"action": "delay", "delay": "2s"}, {"type": "delay", "of": "request", "by": 2.0}),
        (
            {"action": "delay", "delay": "250ms", "of": "response"},
            {"type": "delay", "of": "response", "by": 0.25},
        ),
        ({"action": "abort"}, {"type": "abort", "status": 503, "body": "", "headers": {}}),
        (
            {"action": "abort", "status": 429, "headers": {"Retry-After": "1"}, "body": "slow down"},
            {"type": "abort", "status": 429, "body": "slow down", "headers": {"Retry-After": "1"}},
        ),
        ({"action": "lose_request", "how": "timeout"}, {"type": "lose_request", "how": "timeout"}),
        ({"action": "duplicate"}, {"type": "duplicate", "copies": 1}),
        ({"action": "reorder", "after": 3}, {"type": "reorder", "after": 3, "hold_at_most": 10.0}),
    ],
)
def test_each_action_becomes_the_hops_rule(http: dict, expected_action: dict) -> None:
    rule = one({"link": "l", "http": http}).http.as_rule("f2", seed=1, label=None)
    assert rule["action"] == expected_action
    assert rule["select"] == {}
    assert rule["match"] == {}


def test_match_on_header_and_json_body_field() -> None:
    spec = one({"link": "l", "http": {"action": "duplicate", "every": 2,
                                      "match": {"header": {"Idempotency-Key": "pay:*"},
                                                "json": {"type": "payment.succeeded"}}}})  # fmt: skip
    rule = spec.http.as_rule("f3", seed=1, label=None)
    assert rule["match"] == {"headers": {"Idempotency-Key": "pay:*"}, "json": {"type": "payment.succeeded"}}
    assert rule["select"] == {"every": 2}


@pytest.mark.parametrize(
    ("http", "message"),
    [
        (
            {"action": "lose_response", "probability": 0.3, "first": 2},
            "give one of probability, first or every",
        ),
        ({"action": "lose_response", "probability": 1.5}, "less than or equal to 1"),
        ({"action": "duplicate", "every": 0}, "greater than or equal to 1"),
        ({"action": "abort", "how": "reset"}, "'how' is not a parameter of abort"),
        ({"action": "delay"}, "a delay needs 'delay'"),
        ({"action": "drop"}, "'delay', 'abort', 'lose_request', 'lose_response', 'duplicate' or 'reorder'"),
        ({"action": "abort", "status": 700}, "less than or equal to 599"),
        ({"action": "abort", "match": {"verb": "POST"}}, "Extra inputs are not permitted"),
    ],
)
def test_mistakes_are_refused_with_a_reason(http: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        one({"link": "l", "http": http})


def test_same_fault_id_and_seed_give_the_same_rule_seed_and_others_differ() -> None:
    from paychaos.faults.kinds.http import HttpFault

    class Recorder:
        url = "http://127.0.0.1:1"

        def __init__(self) -> None:
            self.rules: list[dict] = []

        def add_rule(self, link: str, rule: dict) -> dict:
            self.rules.append(rule)
            return rule

    spec = one({"link": "l", "http": {"action": "lose_request", "probability": 0.5}})
    seeds = []
    for fault_id in ("f1", "f1", "f2"):
        client = Recorder()
        HttpFault(client, "l", spec.http, seed=2110, label=None).apply(fault_id)  # type: ignore[arg-type]
        seeds.append(client.rules[0]["seed"])
    assert seeds[0] == seeds[1] != seeds[2]


def test_an_experiment_naming_a_database_link_or_a_typo_is_refused(tmp_path: Path) -> None:
    exp = tmp_path / "e.yaml"
    base = {"name": "e", "seed": 1, "target": {"path": str(ROOT / "targets" / "paystack")},
            "load": {"users": 1, "duration": "5s"}}  # fmt: skip
    for link, hint in (("gateway_db", "link carrying HTTP"), ("gateway_bnk", "did you mean 'gateway_bank'")):
        exp.write_text(json.dumps({**base, "faults": [{"link": link, "http": {"action": "abort"}}]}))
        with pytest.raises(InvalidInput, match=hint):
            load_experiment(exp)


def test_affected_requests_counts_each_applied_fault_and_zero_for_one_that_never_acted(
    tmp_path: Path,
) -> None:
    journal, http = tmp_path / "faults.jsonl", tmp_path / "http-faults.jsonl"
    journal.write_text(
        "\n".join(json.dumps(e) for e in [
            {"event": "applied", "id": "f1", "kind": "http"},
            {"event": "applied", "id": "f2", "kind": "toxic"},
            {"event": "applied", "id": "f3", "kind": "http"},
        ]) + "\n"
    )  # fmt: skip
    http.write_text('{"rule": "f1"}\n{"rule": "f1"}\n{"rule": "f9"}\n{"rule": "f1"')  # torn last line
    assert affected_requests(journal, http) == {"f1": 2, "f3": 0}
    assert affected_requests(tmp_path / "none.jsonl", tmp_path / "none2.jsonl") == {}
