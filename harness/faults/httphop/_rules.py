"""A rule: which requests it is about (``match``), which of those it acts on (``select``), and what it
does (``action``, see :mod:`._actions`).

Everything here is pure (no sockets, no clock), so that each decision the hop takes can be
unit-tested and replayed: a rule's decisions depend only on its seed and on the order in
which requests its match accepts arrive on its link.

    >>> rule = parse_rule({"id": "f1", "match": {"method": "post", "path": "/debits*"},
    ...                    "action": {"type": "lose_response"}, "select": {"every": 2}})
    >>> [decide([rule_state], request) for request in four_posts]          # doctest: +SKIP
    [None, rule_state, None, rule_state]

Several rules on one link: every rule whose match accepts a request counts it (draws from
its random stream, or advances its counter), and the first of them, in the order they were
added, that selects it acts. Counting even the requests an earlier rule took keeps each
rule's choices independent of the other rules, so adding a rule never shifts another's.
"""

from __future__ import annotations

import fnmatch
import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from paychaos.faults.httphop._actions import Action, parse_action
from paychaos.faults.httphop._fields import (
    RuleError,
    a_string,
    an_integer,
    an_object,
    check_keys,
    join,
    shown,
)

_MISSING = object()


class RequestFacts(Protocol):
    """What a match looks at; :class:`._http.Request` is the real one."""

    @property
    def method(self) -> str: ...

    @property
    def path(self) -> str: ...

    def header_values(self, lower_name: str) -> list[str]: ...

    def json_body(self) -> object:
        """The decoded JSON body, or ``_http.NOT_JSON`` when the body is not JSON."""
        ...


@dataclass(frozen=True)
class _JsonField:
    text: str  # as written: "data.amount"
    steps: tuple[str, ...]
    value: Any


@dataclass(frozen=True)
class Match:
    """Every given part must hold; an empty match accepts every request."""

    method: str | None = None
    path: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # (name as written, value glob)
    json: tuple[_JsonField, ...] = ()

    def __post_init__(self) -> None:
        # Globs are compiled once here rather than per request: matching is on the hot path.
        path_re = re.compile(fnmatch.translate(self.path)) if self.path is not None else None
        object.__setattr__(self, "_path_re", path_re)
        header_res = tuple((n.lower(), re.compile(fnmatch.translate(g))) for n, g in self.headers)
        object.__setattr__(self, "_header_res", header_res)

    def accepts(self, request: RequestFacts) -> bool:
        if self.method is not None and request.method.upper() != self.method:
            return False
        path_re: re.Pattern[str] | None = self.__dict__["_path_re"]
        if path_re is not None and not path_re.match(request.path):
            return False
        for name, pattern in self.__dict__["_header_res"]:
            if not any(pattern.match(v) for v in request.header_values(name)):
                return False
        if self.json:
            body = request.json_body()
            for field in self.json:
                if not same_json(_lookup(body, field.steps), field.value):
                    return False
        return True

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.method is not None:
            out["method"] = self.method
        if self.path is not None:
            out["path"] = self.path
        if self.headers:
            out["headers"] = dict(self.headers)
        if self.json:
            out["json"] = {f.text: f.value for f in self.json}
        return out


def _lookup(body: object, steps: tuple[str, ...]) -> object:
    """The value at a dotted path; a number step indexes an array. ``_MISSING`` if absent."""
    here = body
    for step in steps:
        if isinstance(here, dict):
            here = here.get(step, _MISSING)
        elif isinstance(here, list) and step.isdigit() and int(step) < len(here):
            here = here[int(step)]
        else:
            return _MISSING
    return here


def same_json(a: object, b: object) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true`` is not ``1`` (as Python's ``==`` would have it)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@dataclass(frozen=True)
class Select:
    """Which matching requests to act on: all, each with a probability, the first N, or every Nth."""

    kind: Literal["all", "probability", "first", "every"] = "all"
    value: float = 0

    def to_json(self) -> dict[str, Any]:
        if self.kind == "all":
            return {}
        return {self.kind: self.value if self.kind == "probability" else int(self.value)}


class Selection:
    """A rule's running count of matching requests and its seeded random stream.

    >>> s = Selection(Select("every", 3), seed=1)
    >>> [s.take() for _ in range(6)]
    [False, False, True, False, False, True]
    """

    def __init__(self, select: Select, seed: int) -> None:
        self.select = select
        self.seen = 0
        self._random = random.Random(seed)

    def take(self) -> bool:
        """Count one more matching request; True if this one is selected."""
        self.seen += 1
        kind = self.select.kind
        if kind == "all":
            return True
        if kind == "probability":
            return self._random.random() < self.select.value
        if kind == "first":
            return self.seen <= self.select.value
        return self.seen % int(self.select.value) == 0


@dataclass(frozen=True)
class Rule:
    id: str
    label: str | None
    match: Match
    action: Action
    select: Select
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "match": self.match.to_json(),
                "action": self.action.to_json(), "select": self.select.to_json(),
                "seed": self.seed}  # fmt: skip


class Selecting(Protocol):
    """A rule with its selection state, as a link keeps it."""

    @property
    def rule(self) -> Rule: ...

    @property
    def selection(self) -> Selection: ...


S = TypeVar("S", bound=Selecting)


def decide(rules: Iterable[S], request: RequestFacts) -> S | None:
    """The rule that acts on ``request``: the first (in order) whose match accepts it and selects it.

    Every rule whose match accepts the request counts it, taken or not (see the module docstring).
    """
    chosen = None
    for state in rules:
        if state.rule.match.accepts(request) and state.selection.take() and chosen is None:
            chosen = state
    return chosen


def parse_rule(value: object, *, new_seed: random.Random | None = None) -> Rule:
    """A rule from its JSON, fully validated; RuleError names the first bad field.

    Without a ``seed``, one is drawn (from ``new_seed``, else the OS) and shown in ``to_json()``,
    so a run's rules can always be replayed.
    """
    data = an_object("rule", value)
    check_keys("", data, ("id", "label", "match", "action", "select", "seed"))
    if "id" not in data:
        raise RuleError("id", "missing: every rule needs an id (a short name, e.g. 'f1')")
    rule_id = a_string("id", data["id"], empty=False)
    if "/" in rule_id:
        raise RuleError("id", f"may not contain '/' (it is part of the API's paths), got {shown(rule_id)}")
    label = data.get("label")
    if label is not None:
        label = a_string("label", label)
    if "action" not in data:
        raise RuleError("action", 'missing: what to do, e.g. {"type": "delay", "by": 2.5}')
    seed = data.get("seed")
    if seed is None:
        seed = (new_seed or random.SystemRandom()).randrange(2**32)
    else:
        seed = an_integer("seed", seed, low=-(2**63))
    return Rule(
        id=rule_id,
        label=label,
        match=parse_match(data.get("match", {})),
        action=parse_action(data["action"]),
        select=parse_select(data.get("select", {})),
        seed=seed,
    )


def parse_match(value: object, where: str = "match") -> Match:
    data = an_object(where, value)
    check_keys(where, data, ("method", "path", "headers", "json"))
    method = data.get("method")
    if method is not None:
        method = a_string(f"{where}.method", method, empty=False).upper()
    path = data.get("path")
    if path is not None:
        path = a_string(f"{where}.path", path, empty=False)
        if not path.startswith(("/", "*", "?", "[")):
            raise RuleError(
                f"{where}.path", f"a path glob starts with '/' (e.g. '/debits*'), got {shown(path)}"
            )
    headers = tuple(
        (name, a_string(join(f"{where}.headers", name), glob))
        for name, glob in an_object(f"{where}.headers", data.get("headers", {})).items()
    )
    fields = []
    for text, expected in an_object(f"{where}.json", data.get("json", {})).items():
        steps = tuple(text.split("."))
        if not all(steps):
            raise RuleError(f"{where}.json.{text}", "a field path is names joined by '.', e.g. 'data.amount'")
        fields.append(_JsonField(text, steps, _plain_json(f"{where}.json.{text}", expected)))
    return Match(method=method, path=path, headers=headers, json=tuple(fields))


def _plain_json(where: str, value: object) -> object:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise RuleError(where, f"must be a JSON value, got {shown(value)}") from None


def parse_select(value: object, where: str = "select") -> Select:
    data = an_object(where, value)
    check_keys(where, data, ("probability", "first", "every"))
    if len(data) > 1:
        raise RuleError(where, f"give at most one of probability, first, every; got {', '.join(data)}")
    if not data:
        return Select()
    ((kind, given),) = data.items()
    field = f"{where}.{kind}"
    if kind == "probability":
        if isinstance(given, bool) or not isinstance(given, int | float) or not 0 <= given <= 1:
            raise RuleError(field, f"must be a number from 0 to 1, got {shown(given)}")
        return Select("probability", float(given))
    return Select("first" if kind == "first" else "every", an_integer(field, given, low=1))
