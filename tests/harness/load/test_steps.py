"""Scenarios written as steps in target.yaml: what they send, what the history holds, what is refused.

The compiled scenarios run against a scripted transport here (no socket): each test reads the
requests it sent and the history lines it wrote. test_locust.py runs one in the real Locust child.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from paychaos.errors import InvalidInput
from paychaos.load import Context, Reply
from paychaos.load._steps import Declared, compile_load
from paychaos.system import Target, load_target

SERVICE = """\
name: tiny
services:
  api: {port: 9001, command: ["{python}", -m, api]}
"""

PAY = """\
load:
  service: api
  values:
    amount: {min: 100, max: 50000}
    account: {pattern: "cust-{n:05d}", n: {min: 1, max: 1000}}
  payment: {id: $.id, state: $.status,
            outcome: {succeeded: [succeeded, paid], failed: [failed, declined]}}
  scenarios:
    pay:
      steps:
        - request: {kind: pay, method: POST, path: /payments,
                    json: {order: "{order_id}", amount: "{amount}", account: "{account}",
                           note: "order {order_id} of {amount}", tags: ["{account}", 7]},
                    headers: {Idempotency-Key: "{idempotency_key}"}}
          extract: {payment_id: $.id}
          retry: {times: 2, while: [unknown]}
        - request: {kind: check, method: GET, path: "/payments/{payment_id}"}
"""


class Scripted:
    """A Transport answering from a script, in order (then 200 {}), keeping what was sent."""

    def __init__(self, *answers: Reply) -> None:
        self.answers = list(answers)
        self.sent: list[dict[str, Any]] = []

    def __call__(
        self,
        kind: str,
        method: str,
        path: str,
        json: Any,
        headers: dict[str, str] | None,
        data: bytes | None = None,
    ) -> Reply:
        self.sent.append({"kind": kind, "method": method, "path": path, "json": json, "headers": headers})
        return self.answers.pop(0) if self.answers else Reply("ok", 200, {})


def _target(tmp_path: Path, load: str) -> Target:
    path = tmp_path / "target.yaml"
    path.write_text(SERVICE + textwrap.dedent(load))
    return load_target(path)


def _declared(tmp_path: Path, load: str) -> Declared:
    target = _target(tmp_path, load)
    assert target.load is not None
    return compile_load(target.load)


def _run(
    declared: Declared, scenario: str, *answers: Reply, seed: int = 1
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run one iteration of ``scenario``: the requests sent and the history lines written."""
    transport, lines = Scripted(*answers), list[dict[str, Any]]()

    def record(record: dict[str, Any]) -> None:
        lines.append(record)

    assert declared.payment_of is not None
    ctx = Context(seed=seed, process=0, user=1, transport=transport, record=record,
                  payment_of=declared.payment_of, outcome_of=declared.outcome_of)  # fmt: skip
    declared.scenarios[scenario](ctx)
    return transport.sent, lines


def _ok(body: Any, status: int = 200) -> Reply:
    return Reply("ok", status, body)


TIMEOUT = Reply("timeout", 0, None, "timed out")

# -- templates and values ----------------------------------------------------------------------------


def test_values_fill_the_templates_and_a_placeholder_alone_keeps_its_type(tmp_path: Path) -> None:
    sent, _ = _run(_declared(tmp_path, PAY), "pay", _ok({"id": "p-1", "status": "paid"}))
    body = sent[0]["json"]
    order = body["order"]
    assert re.fullmatch(r"order-0-1-\d+", order)
    assert isinstance(body["amount"], int)
    assert 100 <= body["amount"] <= 50_000
    assert re.fullmatch(r"cust-\d{5}", body["account"])
    assert body["note"] == f"order {order} of {body['amount']}"  # inside text: written as text
    assert body["tags"] == [body["account"], 7]
    assert sent[0]["headers"] == {"Idempotency-Key": f"order:{order}"}


def test_the_same_seed_draws_the_same_values_and_another_seed_others(tmp_path: Path) -> None:
    declared = _declared(tmp_path, PAY)

    def bodies(seed: int) -> list[Any]:
        return [_run(declared, "pay", seed=seed)[0][0]["json"] for _ in range(3)]

    assert bodies(5) == bodies(5)
    assert bodies(5) != bodies(6)


def test_one_of_and_unique_values(tmp_path: Path) -> None:
    declared = _declared(tmp_path, """\
        load:
          service: api
          values: {currency: {one_of: [EUR, USD]}, payout_id: {unique: payout}}
          payment: {id: $.id}
          scenarios:
            payout:
              steps:
                - request: {method: POST, path: /payouts, json: {id: "{payout_id}", currency: "{currency}"}}
                  key: "payout:{payout_id}"
        """)  # fmt: skip
    sent, (line,) = _run(declared, "payout")
    assert sent[0]["json"]["currency"] in ("EUR", "USD")
    assert sent[0]["json"]["id"] == "payout-0-1-1"
    assert line["kind"] == "payout"  # no kind given: the scenario's name
    assert line["key"] == "payout:payout-0-1-1"
    assert line["order_id"] is None  # the scenario never names an order
    assert line["amount"] is None  # nor an amount


# -- the history ---------------------------------------------------------------------------------------


def test_every_history_field_is_filled_as_a_python_scenario_fills_it(tmp_path: Path) -> None:
    sent, (pay, check) = _run(
        _declared(tmp_path, PAY), "pay", _ok({"id": "p-1", "status": "paid"}, 201), _ok({"id": "p-1"})
    )
    order = sent[0]["json"]["order"]
    assert (pay["kind"], pay["order_id"], pay["key"], pay["amount"]) == (
        "pay", order, f"order:{order}", sent[0]["json"]["amount"],
    )  # fmt: skip
    assert (pay["outcome"], pay["status"], pay["payment_id"], pay["payment_state"]) == (
        "ok",
        201,
        "p-1",
        "paid",
    )
    assert pay["told"] == "succeeded"
    assert pay["expected"] is False
    assert "refusal_expected" not in pay
    # the check is about the order and the payment, but sends no key and moves no money
    assert sent[1]["path"] == "/payments/p-1"
    assert (check["kind"], check["order_id"], check["key"], check["amount"]) == ("check", order, None, None)
    assert check["payment_id"] == "p-1"


def test_the_payment_mapping_reads_failures_and_says_nothing_of_what_is_not_final(tmp_path: Path) -> None:
    declared = _declared(tmp_path, PAY)
    assert declared.payment_of is not None
    assert declared.outcome_of is not None
    assert declared.payment_of({"id": 12, "status": "declined"}) == ("12", "declined")
    assert declared.outcome_of({"id": 12, "status": "declined"}) == "failed"
    assert declared.outcome_of({"id": 12, "status": "pending"}) is None
    assert declared.payment_of({"error": "nope"}) == (None, None)
    assert declared.payment_of(["not", "an", "object"]) == (None, None)
    assert declared.payment_of({"id": {"nested": 1}, "status": None}) == (None, None)


def test_an_outcome_may_be_read_from_its_own_path(tmp_path: Path) -> None:
    declared = _declared(tmp_path, """\
        load:
          service: api
          payment: {id: $.payment.id, outcome: {path: "$.order.lines[0].state", succeeded: [PAID]}}
          scenarios:
            pay: {steps: [{request: {method: POST, path: /pay}}]}
        """)  # fmt: skip
    assert declared.outcome_of is not None
    assert declared.outcome_of({"order": {"lines": [{"state": "PAID"}]}}) == "succeeded"
    assert declared.outcome_of({"order": {"lines": []}}) is None


# -- retries, expectations, the end of an iteration -----------------------------------------------------


def test_a_step_is_resent_under_the_same_key_while_no_answer_comes(tmp_path: Path) -> None:
    sent, lines = _run(
        _declared(tmp_path, PAY), "pay", TIMEOUT, TIMEOUT, _ok({"id": "p-9", "status": "paid"}), _ok({})
    )
    assert [line["kind"] for line in lines] == ["pay", "pay", "pay", "check"]
    assert [line["outcome"] for line in lines[:3]] == ["timeout", "timeout", "ok"]
    assert len({line["key"] for line in lines[:3]}) == 1
    assert sent[0]["json"] == sent[1]["json"] == sent[2]["json"]  # the same request, not a new one
    assert sent[3]["path"] == "/payments/p-9"


def test_when_every_retry_goes_unanswered_the_iteration_ends(tmp_path: Path) -> None:
    _, lines = _run(_declared(tmp_path, PAY), "pay", TIMEOUT, TIMEOUT, TIMEOUT)
    assert [line["outcome"] for line in lines] == ["timeout"] * 3  # no check: there is no payment id


STEPS = """\
    load:
      service: api
      values: {amount: {min: 1, max: 9}}
      payment: {id: $.id}
      scenarios:
        strict:
          steps:
            - request: {method: POST, path: /pay, json: {amount: "{amount}"}}
              expect: [201]
            - request: {kind: after, method: GET, path: /after}
        lenient:
          steps:
            - request: {method: POST, path: /pay, json: {amount: "{amount}"}}
              expect: [201]
              continue: true
            - request: {kind: after, method: GET, path: /after}
        busy:
          steps:
            - request: {method: POST, path: /pay}
              retry: {times: 3, while: [503, failed]}
        conflict:
          steps:
            - request: {method: POST, path: /pay, json: {amount: "{amount}"}}
              key: "order:{order_id}"
              expect_refusal: [409]
            - request: {kind: after, method: GET, path: /after}
        extracting:
          steps:
            - request: {method: POST, path: /pay}
              extract: {token: $.token}
              continue: true
            - request: {kind: after, method: GET, path: "/after/{token}"}
"""


def test_a_status_the_step_does_not_expect_ends_the_iteration_and_is_recorded_as_it_came(
    tmp_path: Path,
) -> None:
    declared = _declared(tmp_path, STEPS)
    _, lines = _run(declared, "strict", _ok({}, 202))
    assert [(line["kind"], line["outcome"], line["status"]) for line in lines] == [("strict", "ok", 202)]
    _, lines = _run(declared, "strict", _ok({}, 201))
    assert [line["kind"] for line in lines] == ["strict", "after"]
    _, lines = _run(declared, "lenient", Reply("failed", 500, {"error": "boom"}, "boom"))
    assert [(line["kind"], line["outcome"]) for line in lines] == [("lenient", "failed"), ("after", "ok")]


def test_a_retry_may_wait_out_named_statuses_and_failures(tmp_path: Path) -> None:
    busy = Reply("failed", 503, None)
    _, lines = _run(_declared(tmp_path, STEPS), "busy", busy, Reply("failed", 500, None), busy, _ok({}))
    assert [line["status"] for line in lines] == [503, 500, 503, 200]


def test_a_refusal_provoked_on_purpose_is_marked_expected_and_lets_the_scenario_go_on(tmp_path: Path) -> None:
    declared = _declared(tmp_path, STEPS)
    _, (refused, after) = _run(declared, "conflict", Reply("failed", 409, {"error": "key reused"}))
    assert (refused["outcome"], refused["expected"], refused["refusal_expected"]) == ("failed", True, True)
    assert refused["key"] == f"order:{refused['order_id']}"
    assert isinstance(refused["amount"], int)
    assert after["kind"] == "after"
    assert after["key"] is None  # the key belongs to the step that declared it
    _, lines = _run(declared, "conflict", _ok({}))  # accepted: recorded, for the invariants to judge
    assert [(line["outcome"], line["expected"]) for line in lines] == [("ok", False)]


def test_a_step_whose_value_never_came_is_not_sent(tmp_path: Path) -> None:
    sent, lines = _run(_declared(tmp_path, STEPS), "extracting", _ok({"no_token": 1}))
    assert len(sent) == len(lines) == 1
    sent, _ = _run(_declared(tmp_path, STEPS), "extracting", _ok({"token": "a b/c"}))
    assert sent[1]["path"] == "/after/a%20b%2Fc"  # a value in a path is quoted


def test_a_step_key_is_what_idempotency_key_means_in_that_step(tmp_path: Path) -> None:
    declared = _declared(tmp_path, """\
        load:
          service: api
          payment: {id: $.id}
          scenarios:
            refund:
              steps:
                - request: {kind: pay, method: POST, path: "/orders/{order_id}",
                            headers: {Idempotency-Key: "{idempotency_key}"}}
                - request: {kind: refund, method: POST, path: "/orders/{order_id}/refund",
                            headers: {Idempotency-Key: "{idempotency_key}"}}
                  key: "refund:{order_id}"
        """)  # fmt: skip
    sent, (pay, refund) = _run(declared, "refund")
    order = pay["order_id"]
    assert [s["headers"]["Idempotency-Key"] for s in sent] == [f"order:{order}", f"refund:{order}"]
    assert (pay["key"], refund["key"]) == (f"order:{order}", f"refund:{order}")


def test_scenarios_without_steps_are_left_to_the_module(tmp_path: Path) -> None:
    declared = _declared(tmp_path, """\
        load:
          service: api
          module: tests.harness.load.scenarios_echo
          scenarios:
            ok: {weight: 2}
            yaml_ok: {steps: [{request: {method: GET, path: /ok}}]}
        """)  # fmt: skip
    assert list(declared.scenarios) == ["yaml_ok"]
    assert (declared.payment_of, declared.outcome_of) == (None, None)  # the module's serve


# -- mistakes, refused when the target loads -----------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('"{account}",\n', '"{acount}",\n'),
            "15:78: load.scenarios.pay.steps[0].request.json.account: unknown placeholder {acount}; known here: "
            "account, amount, idempotency_key, order_id; did you mean 'account'?",
        ),
        (
            ('path: "/payments/{payment_id}"', 'path: "/payments/{paymnt_id}"'),
            "load.scenarios.pay.steps[1].request.path: unknown placeholder {paymnt_id}; known here: account, "
            "amount, idempotency_key, order_id, payment_id; did you mean 'payment_id'?",
        ),
        (
            ('Idempotency-Key: "{idempotency_key}"', 'Idempotency-Key: "{payment_id}"'),
            "load.scenarios.pay.steps[0].request.headers.Idempotency-Key: {payment_id} is extracted by "
            "steps[0] from its answer, after this step is sent; a step uses what earlier steps extracted",
        ),
        (
            ('note: "order {order_id} of {amount}"', 'note: "order {order_id:>9}"'),
            "{order_id:>9} is no placeholder; write a value's name alone, e.g. {order_id}",
        ),
        (
            ('note: "order {order_id} of {amount}"', 'note: "order {order_id"'),
            "holds a lone { or }; a placeholder is {name}, and a literal brace is written {{ or }}",
        ),
        (
            ("extract: {payment_id: $.id}", "extract: {payment_id: '$.items[*].id'}"),
            "load.scenarios.pay.steps[0].extract.payment_id: invalid JSON path '$.items[*].id'; write keys",
        ),
        (("payment: {id: $.id,", "payment: {id: 'id..x',"), "load.payment.id: invalid JSON path 'id..x'"),
        (
            ('pattern: "cust-{n:05d}"', 'pattern: "cust-{m:05d}"'),
            "load.values.account: pattern 'cust-{m:05d}' must hold {n}, maybe formatted ({n:05d}), and no "
            "other placeholder",
        ),
        (
            ("amount: {min: 100, max: 50000}", "amount: {min: 100, one_of: [1]}"),
            "load.values.amount: a value takes one of: {min, max} (a whole number), {pattern, n: {min, max}} "
            "(a text around a number), {one_of: [...]} or {unique: prefix}; got min, one_of",
        ),
        (
            ("amount: {min: 100, max: 50000}", "amount: {min: 100, max: 5}"),
            "load.values.amount: min (100) is above max (5); swap them",
        ),
        (
            ("amount: {min: 100, max: 50000}", "order_id: {min: 100, max: 50000}"),
            "load.values.order_id: paychaos makes {order_id} for every iteration; rename yours",
        ),
        (
            ("retry: {times: 2, while: [unknown]}", "retry: {times: 2, while: [unknwon]}"),
            "19:37: load.scenarios.pay.steps[0].retry.while[0]: 'unknwon' is none of unknown, failed or a "
            "status from 100 to 599; did you mean 'unknown'?",
        ),
        (
            ("          extract: {payment_id: $.id}\n", '          key: "k:{idempotency_key}"\n'),
            "load.scenarios.pay.steps[0].key: a key is not made of itself; build it from other values",
        ),
    ],
    ids=lambda v: v[1] if isinstance(v, tuple) else None,
)
def test_a_mistake_in_steps_is_located_and_explained(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in PAY
    with pytest.raises(InvalidInput) as caught:
        _target(tmp_path, PAY.replace(*change))
    assert message in str(caught.value)
    assert str(tmp_path / "target.yaml") in str(caught.value)


def test_a_scenario_with_neither_steps_nor_a_module_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        _target(tmp_path, PAY + "    refund: {weight: 1}\n")
    assert (
        "target.yaml:21:13: load.scenarios.refund: no steps, and load names no module to find it in; "
        "describe its requests under steps:, or name the Python module that holds it in load.module"
    ) in str(caught.value)


def test_steps_without_a_payment_mapping_or_a_module_are_refused(tmp_path: Path) -> None:
    without = re.sub(r"  payment: .*?\n(?=  scenarios:)", "", PAY, flags=re.S)
    with pytest.raises(InvalidInput) as caught:
        _target(tmp_path, without)
    assert "load: scenarios with steps need payment:, where an answer carries its payment" in str(
        caught.value
    )
