"""Rules without sockets: parsing and its messages, matching, selection, and which rule acts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from paychaos.faults.httphop import RuleError, parse_rule
from paychaos.faults.httphop._actions import Abort, Delay, Duplicate, LoseRequest, Reorder
from paychaos.faults.httphop._http import Request
from paychaos.faults.httphop._rules import Rule, Selection, decide, same_json


def request(method: str = "POST", target: str = "/debits", body: Any = None, **headers: str) -> Request:
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else (body or b"")
    pairs = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return Request(method, target.encode(), pairs, raw)


def rule(**fields: Any) -> Rule:
    return parse_rule({"id": "r", "action": {"type": "abort"}, "seed": 1} | fields)


class _State:
    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.selection = Selection(rule.select, rule.seed)


# Parsing


def test_defaults_are_filled_in_and_shown() -> None:
    parsed = parse_rule({"id": "f1", "action": {"type": "lose_response"}, "seed": 5})
    assert parsed.to_json() == {
        "id": "f1", "label": None, "match": {}, "action": {"type": "lose_response", "how": "reset"},
        "select": {}, "seed": 5,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "delay", "by": 2.5}, Delay("request", 2.5)),
        ({"type": "delay", "of": "response", "by": 0}, Delay("response", 0.0)),
        ({"type": "abort"}, Abort(503, "", ())),
        ({"type": "abort", "status": 409, "body": "{}", "headers": {"Retry-After": "1"}},
         Abort(409, "{}", (("Retry-After", "1"),))),
        ({"type": "lose_request", "how": "timeout"}, LoseRequest("timeout")),
        ({"type": "duplicate"}, Duplicate(1)),
        ({"type": "reorder"}, Reorder(1, 10.0)),
        ({"type": "reorder", "after": 3, "hold_at_most": 0.5}, Reorder(3, 0.5)),
    ],
)  # fmt: skip
def test_actions_parse(action: dict[str, Any], expected: object) -> None:
    assert rule(action=action).action == expected


def test_the_full_example_round_trips() -> None:
    given = {
        "id": "f3", "label": "bank loses answers",
        "match": {"method": "POST", "path": "/debits*", "headers": {"Idempotency-Key": "pay:*"},
                  "json": {"event": "payment.succeeded", "data.amount": 100}},
        "action": {"type": "lose_response", "how": "reset"}, "select": {"probability": 0.3}, "seed": 12345,
    }  # fmt: skip
    assert parse_rule(given).to_json() == given
    assert parse_rule(parse_rule(given).to_json()) == parse_rule(given)


def test_a_missing_seed_is_drawn_and_reported() -> None:
    parsed = parse_rule({"id": "r", "action": {"type": "abort"}})
    assert isinstance(parsed.seed, int)
    assert parsed.to_json()["seed"] == parsed.seed


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"action": {"type": "loose_response"}}, "action.type", "did you mean 'lose_response'"),
        ({"action": {"type": "delay"}}, "action.by", "missing"),
        ({"action": {"type": "delay", "by": -1}}, "action.by", "0 or more"),
        ({"action": {"type": "delay", "by": "2s"}}, "action.by", "'2s' (string)"),
        ({"action": {"type": "delay", "by": 1, "of": "answer"}}, "action.of", "'request' or 'response'"),
        ({"action": {"type": "reorder", "hold_at_most": -0.1}}, "action.hold_at_most", "0 or more"),
        ({"action": {"type": "reorder", "after": 0}}, "action.after", "1 or more"),
        ({"action": {"type": "duplicate", "copies": 0}}, "action.copies", "from 1 to 100"),
        ({"action": {"type": "abort", "status": 99}}, "action.status", "from 200 to 599"),
        ({"action": {"type": "abort", "headers": {"Content-Length": "3"}}}, "action.headers.Content-Length", "itself"),
        ({"action": {"type": "abort", "headers": {"X": "a\r\nB: c"}}}, "action.headers.X", "CR or LF"),
        ({"action": {"type": "abort", "stauts": 500}}, "action.stauts", "did you mean 'status'"),
        ({"action": {"type": "lose_request", "how": "drop"}}, "action.how", "'reset' or 'timeout'"),
        ({"select": {"probability": 1.5}}, "select.probability", "from 0 to 1"),
        ({"select": {"probability": -0.1}}, "select.probability", "from 0 to 1"),
        ({"select": {"probability": True}}, "select.probability", "(boolean)"),
        ({"select": {"first": 0}}, "select.first", "1 or more"),
        ({"select": {"every": 0}}, "select.every", "1 or more"),
        ({"select": {"every": 2.5}}, "select.every", "whole number"),
        ({"select": {"first": 1, "every": 2}}, "select", "at most one"),
        ({"select": {"sometimes": 1}}, "select.sometimes", "unknown key"),
        ({"match": {"metod": "GET"}}, "match.metod", "did you mean 'method'"),
        ({"match": {"path": "debits"}}, "match.path", "starts with '/'"),
        ({"match": {"headers": {"X": 1}}}, "match.headers.X", "must be a string"),
        ({"match": {"json": {"a..b": 1}}}, "match.json.a..b", "joined by '.'"),
        ({"colour": "red"}, "colour", "unknown key"),
        ({"id": ""}, "id", "must not be empty"),
        ({"id": "a/b"}, "id", "'/'"),
        ({"seed": "x"}, "seed", "whole number"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_naming_the_field(fields: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(RuleError) as caught:
        rule(**fields)
    assert caught.value.field == field
    assert words in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


def test_a_rule_without_id_or_action_says_what_is_missing() -> None:
    with pytest.raises(RuleError, match=r"^id: missing"):
        parse_rule({"action": {"type": "abort"}})
    with pytest.raises(RuleError, match=r"^action: missing"):
        parse_rule({"id": "r"})
    with pytest.raises(RuleError, match=r"^rule: must be a JSON object, got \[\] \(array\)"):
        parse_rule([])


# Matching


def test_an_empty_match_accepts_everything() -> None:
    assert rule().match.accepts(request("GET", "/anything?x=1"))


def test_method_is_case_insensitive() -> None:
    match = rule(match={"method": "post"}).match
    assert match.accepts(request("POST"))
    assert not match.accepts(request("GET"))


def test_path_is_a_glob_on_the_path_without_the_query() -> None:
    match = rule(match={"path": "/debits*"}).match
    assert match.accepts(request(target="/debits"))
    assert match.accepts(request(target="/debits/42?expand=1"))
    assert not match.accepts(request(target="/credits/debits"))
    assert rule(match={"path": "/debits"}).match.accepts(request(target="/debits?x=1"))
    assert not rule(match={"path": "/Debits"}).match.accepts(
        request(target="/debits")
    )  # paths are case-sensitive


def test_headers_match_any_case_name_and_a_value_glob() -> None:
    match = rule(match={"headers": {"Idempotency-Key": "pay:*"}}).match
    assert match.accepts(request(idempotency_key="pay:123"))
    assert match.accepts(request(IDEMPOTENCY_KEY="pay:"))
    assert not match.accepts(request(idempotency_key="refund:1"))
    assert not match.accepts(request())


def test_json_fields_are_dotted_paths_compared_as_json() -> None:
    match = rule(match={"json": {"event": "payment.succeeded", "data.amount": 100}}).match
    assert match.accepts(request(body={"event": "payment.succeeded", "data": {"amount": 100, "x": 1}}))
    assert match.accepts(request(body={"event": "payment.succeeded", "data": {"amount": 100.0}}))
    assert not match.accepts(request(body={"event": "payment.succeeded", "data": {"amount": 101}}))
    assert not match.accepts(request(body={"event": "payment.succeeded"}))  # the field is missing
    assert not match.accepts(request(body=b"event=payment.succeeded"))  # not JSON
    assert not match.accepts(request(body=b""))


def test_json_paths_index_arrays_and_keep_booleans_apart_from_numbers() -> None:
    assert rule(match={"json": {"items.1.id": "b"}}).match.accepts(
        request(body={"items": [{"id": "a"}, {"id": "b"}]})
    )
    assert not rule(match={"json": {"items.5.id": "b"}}).match.accepts(request(body={"items": []}))
    assert not rule(match={"json": {"live": 1}}).match.accepts(request(body={"live": True}))
    assert rule(match={"json": {"live": True}}).match.accepts(request(body={"live": True}))
    assert same_json({"a": [1, None]}, {"a": [1.0, None]})
    assert not same_json({"a": 1}, {"a": 1, "b": 2})


def test_every_part_of_a_match_must_hold() -> None:
    match = rule(match={"method": "POST", "path": "/debits", "json": {"a": 1}}).match
    assert match.accepts(request("POST", "/debits", {"a": 1}))
    assert not match.accepts(request("GET", "/debits", {"a": 1}))
    assert not match.accepts(request("POST", "/debits", {"a": 2}))


# Selection


def picks(parsed: Rule, count: int) -> list[int]:
    selection = Selection(parsed.select, parsed.seed)
    return [i for i in range(count) if selection.take()]


def test_first_and_every_pick_by_position() -> None:
    assert picks(rule(select={"first": 3}), 10) == [0, 1, 2]
    assert picks(rule(select={"every": 3}), 10) == [2, 5, 8]
    assert picks(rule(select={}), 4) == [0, 1, 2, 3]


def test_probability_is_reproducible_from_the_seed() -> None:
    a = picks(rule(select={"probability": 0.3}, seed=12345), 200)
    b = picks(rule(select={"probability": 0.3}, seed=12345), 200)
    c = picks(rule(select={"probability": 0.3}, seed=54321), 200)
    assert a == b
    assert a != c
    assert 30 < len(a) < 90
    assert picks(rule(select={"probability": 0}), 50) == []
    assert picks(rule(select={"probability": 1}), 50) == list(range(50))


def test_the_first_rule_that_matches_and_selects_acts() -> None:
    posts = _State(rule(id="posts", match={"method": "POST"}, select={"every": 2}))
    anything = _State(rule(id="anything"))
    chosen = [decide([posts, anything], request("POST")) for _ in range(4)]
    assert [s.rule.id if s else None for s in chosen] == ["anything", "posts", "anything", "posts"]
    assert decide([posts], request("GET")) is None


def test_each_rule_counts_every_request_it_matches_even_when_another_acts() -> None:
    # So adding a rule in front never shifts another rule's choices.
    first = _State(rule(id="first", select={"first": 2}))
    every = _State(rule(id="every", select={"every": 2}))
    chosen = [decide([first, every], request()) for _ in range(6)]
    assert [s.rule.id if s else None for s in chosen] == ["first", "first", None, "every", None, "every"]
    assert every.selection.seen == 6
