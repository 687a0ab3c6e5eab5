"""Scenarios described in ``target.yaml``: HTTP steps compiled into functions of a :class:`Context`.

A target can describe its API without Python. Each scenario with ``steps`` becomes a function
like a Python scenario's, and ``payment:`` becomes ``payment_of``/``outcome_of``::

    load:
      service: api
      values: {amount: {min: 100, max: 50000}}
      payment: {id: $.id, state: $.status}
      scenarios:
        pay:
          steps:
            - request: {kind: pay, method: POST, path: /payments,
                        json: {order: "{order_id}", amount: "{amount}"},
                        headers: {Idempotency-Key: "{idempotency_key}"}}
              extract: {payment_id: $.id}
              retry: {times: 2, while: [unknown]}
            - request: {kind: check, method: GET, path: "/payments/{payment_id}"}

One iteration of a scenario draws its values afresh: ``{order_id}`` (``ctx.unique("order")``),
``{idempotency_key}`` (``order:{order_id}``, or the step's ``key:``), each of ``load.values``
it uses, from ``ctx.random`` (so a rerun with the seed makes the same choices), and then
whatever earlier steps ``extract`` from their answers. A string that is one placeholder alone
keeps its value's type (``"{amount}"`` is a JSON number); values inside a longer string are
written as text, and inside a path also URL-quoted.

Each step is one ``ctx.request``, and so one history line (plus one per resend), filled as a
Python scenario fills it: ``order_id`` on every step when the scenario uses ``{order_id}``;
``key`` when the step sends ``{idempotency_key}`` or declares its ``key:`` (what it is for the
stack, sent or not); ``amount`` when the step mentions ``{amount}`` or records a key;
``payment_id`` when its request names ``{payment_id}`` (else the answer's, by ``payment:``).

A step passes when its status is in ``expect`` (default: any 2xx) or ``expect_refusal``
(refusals provoked on purpose, recorded as expected; with them, ``expect`` defaults to none).
The history records what happened whatever the step expected: 2xx is ``ok``, any other answer
``failed``, no answer ``timeout``/``connection``. ``retry`` resends the same request (the same
body, the same key) while the answer is one ``while`` names. A step that did not pass, or whose
answer lacks a value to ``extract``, ends the iteration, unless it says ``continue: true``; a
later step that needs the missing value ends it then.
"""

from __future__ import annotations

import string
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from paychaos.load._scenario import Context, OutcomeOf, PaymentOf, Reply
from paychaos.system import LoadSpec, PaymentSpec, RetrySpec, StepSpec, ValueSpec, json_path, template_names

Scenario = Callable[[Context], None]
At = tuple[str | int, ...]  # a JSON path, parsed: keys and indexes
_MISSING: Any = object()  # what a JSON path finds where the answer holds nothing


@dataclass(frozen=True)
class Declared:
    """What a ``load:`` section compiles to: its step scenarios, and its answer readers if it has them."""

    scenarios: dict[str, Scenario]
    payment_of: PaymentOf | None
    outcome_of: OutcomeOf | None


def compile_load(load: LoadSpec) -> Declared:
    """Compile every scenario with steps, and ``payment:``; scenarios without steps are Python's.

    >>> declared = compile_load(load_target("targets/x").load)   # doctest: +SKIP
    >>> declared.scenarios["pay"](ctx)                            # doctest: +SKIP
    """
    scenarios = {
        name: compile_scenario(name, spec.steps, load.values)
        for name, spec in load.scenarios.items()
        if spec.steps is not None
    }
    payment_of, outcome_of = payment_readers(load.payment) if load.payment else (None, None)
    return Declared(scenarios, payment_of, outcome_of)


def compile_scenario(name: str, steps: list[StepSpec], values: Mapping[str, ValueSpec]) -> Scenario:
    """One scenario's steps as a function of a :class:`Context`; ``name`` is its steps' default kind."""
    compiled = [_Step.of(step, name) for step in steps]
    used = set().union(*(step.needs for step in compiled))
    draws = [(value, _draw(spec)) for value, spec in values.items() if value in used]
    return _Scenario(compiled, draws, uses_order=bool(used & {"order_id", "idempotency_key"}))


def payment_readers(spec: PaymentSpec) -> tuple[PaymentOf, OutcomeOf | None]:
    """``payment_of`` and ``outcome_of`` (None without ``outcome:``) as ``payment:`` describes them."""
    id_at = json_path(spec.id)
    state_at = json_path(spec.state) if spec.state is not None else None

    def payment_of(body: Any) -> tuple[str | None, str | None]:
        state = _scalar(_read(body, state_at)) if state_at is not None else None
        return _scalar(_read(body, id_at)), state

    if spec.outcome is None:
        return payment_of, None
    told_at = json_path(spec.outcome.path or spec.state or "")
    succeeded = {_text(value) for value in spec.outcome.succeeded}
    failed = {_text(value) for value in spec.outcome.failed}

    def outcome_of(body: Any) -> str | None:
        said = _scalar(_read(body, told_at))
        return "succeeded" if said in succeeded else "failed" if said in failed else None

    return payment_of, outcome_of


class _Scenario:
    """One compiled scenario: an iteration draws its values, then runs the steps in order."""

    def __init__(
        self, steps: list[_Step], draws: list[tuple[str, Callable[[Context], Any]]], *, uses_order: bool
    ) -> None:
        self.steps = steps
        self.draws = draws
        self.uses_order = uses_order

    def __call__(self, ctx: Context) -> None:
        values: dict[str, Any] = {}
        order_id = None
        if self.uses_order:
            order_id = values["order_id"] = ctx.unique("order")
            values["idempotency_key"] = f"order:{order_id}"
        for name, draw in self.draws:  # in the order of load.values: the same seed, the same choices
            values[name] = draw(ctx)
        for step in self.steps:
            if not step.needs <= values.keys():
                return  # a value an earlier step (failed, with continue) did not extract
            if not step.run(ctx, values, order_id) and not step.go_on:
                return


@dataclass(frozen=True)
class _Step:
    kind: str
    method: str
    path: _Template
    body: Any  # the JSON body with a _Template for each string
    headers: dict[str, _Template]
    key: _Template | None  # the step's own key; without it, {idempotency_key} is the iteration's
    records_key: bool
    records_amount: bool  # {amount}'s value goes to the history, when the scenario draws it
    names_payment: bool
    extract: dict[str, At]
    passing: frozenset[int] | None  # None: any 2xx
    refusals: tuple[int, ...]
    retry: RetrySpec | None
    go_on: bool
    needs: frozenset[str]  # the values the step's templates use

    @classmethod
    def of(cls, spec: StepSpec, scenario: str) -> _Step:
        request = spec.request
        path, body = _Template(request.path), _compile_json(request.body)
        headers = {name: _Template(value) for name, value in request.headers.items()}
        key = _Template(spec.key) if spec.key is not None else None
        sent = path.names.union(*(t.names for t in headers.values()), *(t.names for t in _templates(body)))
        needs = sent if key is None else (sent - {"idempotency_key"}) | key.names
        records_key = key is not None or "idempotency_key" in sent
        passing = (
            frozenset(spec.expect)
            if spec.expect is not None
            else (frozenset() if spec.expect_refusal else None)
        )
        return cls(
            kind=request.kind or scenario, method=request.method, path=path, body=body, headers=headers,
            key=key, records_key=records_key, records_amount=records_key or "amount" in sent,
            names_payment="payment_id" in sent, extract={n: json_path(p) for n, p in spec.extract.items()},
            passing=passing, refusals=tuple(spec.expect_refusal), retry=spec.retry, go_on=spec.continue_,
            needs=frozenset(needs),
        )  # fmt: skip

    def run(self, ctx: Context, values: dict[str, Any], order_id: str | None) -> bool:
        """Send the step, and resend it as ``retry`` says; whether the scenario may go on."""
        here = dict(values)
        if self.key is not None:
            here["idempotency_key"] = _text(self.key.render(values))
        key = here["idempotency_key"] if self.records_key else None
        amount = values.get("amount") if self.records_amount else None
        reply = self._send(
            ctx,
            path=self.path.render(here, quote=True),
            body=_render_json(self.body, here),
            headers={name: _text(t.render(here)) for name, t in self.headers.items()} or None,
            order_id=order_id,
            key=key,
            amount=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
            payment_id=_text(values["payment_id"]) if self.names_payment else None,
        )
        if not self._passes(reply):
            return False
        for name, at in self.extract.items():
            found = _read(reply.body, at)
            if found is _MISSING or found is None:
                return False
            values[name] = found
        return True

    def _send(
        self, ctx: Context, *, path: str, body: Any, headers: dict[str, str] | None, **fields: Any
    ) -> Reply:
        resends = self.retry.times if self.retry else 0
        for attempt in range(resends + 1):
            if attempt and self.retry and self.retry.pause:
                time.sleep(self.retry.pause)  # cooperative under Locust's gevent
            reply = ctx.request(
                self.kind, self.method, path, json=body, headers=headers, expect=self.refusals, **fields
            )
            if not self._again(reply):
                break
        return reply

    def _passes(self, reply: Reply) -> bool:
        if reply.unknown:
            return False
        if reply.status in self.refusals:
            return True
        return 200 <= reply.status < 300 if self.passing is None else reply.status in self.passing

    def _again(self, reply: Reply) -> bool:
        when = self.retry.while_ if self.retry else []
        if reply.unknown:
            return "unknown" in when
        return reply.status in when or ("failed" in when and not self._passes(reply))


class _Template:
    """A template compiled once: its literal text and placeholders. ``"{x}"`` alone keeps x's type."""

    def __init__(self, text: str) -> None:
        names = template_names(text)  # checked by the loader; this only fails on an unchecked spec
        self.names = frozenset(names)
        self.parts = [(literal, name) for literal, name, _, _ in string.Formatter().parse(text)]
        self.alone = names[0] if len(names) == 1 and text == f"{{{names[0]}}}" else None

    def render(self, values: Mapping[str, Any], *, quote: bool = False) -> Any:
        if self.alone is not None and not quote:
            return values[self.alone]
        out = []
        for literal, name in self.parts:
            out.append(literal)
            if name is not None:
                text = _text(values[name])
                out.append(urllib.parse.quote(text, safe="") if quote else text)
        return "".join(out)


def _compile_json(value: Any) -> Any:
    if isinstance(value, str):
        return _Template(value)
    if isinstance(value, list):
        return [_compile_json(item) for item in value]
    if isinstance(value, dict):
        return {name: _compile_json(item) for name, item in value.items()}
    return value


def _render_json(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, _Template):
        return node.render(values)
    if isinstance(node, list):
        return [_render_json(item, values) for item in node]
    if isinstance(node, dict):
        return {name: _render_json(item, values) for name, item in node.items()}
    return node


def _templates(node: Any) -> list[_Template]:
    if isinstance(node, _Template):
        return [node]
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [t for item in items for t in _templates(item)]


def _draw(spec: ValueSpec) -> Callable[[Context], Any]:
    """How one of ``load.values`` is drawn for an iteration (its form was checked by the model)."""
    if spec.min is not None and spec.max is not None:
        low, high = spec.min, spec.max
        return lambda ctx: ctx.random.randint(low, high)
    if spec.pattern is not None and spec.n is not None:
        pattern, n = spec.pattern, spec.n
        return lambda ctx: pattern.format(n=ctx.random.randint(n.min, n.max))
    if spec.one_of is not None:
        choices = list(spec.one_of)
        return lambda ctx: ctx.random.choice(choices)
    prefix = spec.unique or "value"
    return lambda ctx: ctx.unique(prefix)


def _read(body: Any, at: At) -> Any:
    """What ``at`` finds in a decoded JSON answer, or ``_MISSING``."""
    node = body
    for part in at:
        found = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (found or (isinstance(node, dict) and isinstance(part, str) and part in node)):
            return _MISSING
        node = node[part]
    return node


def _scalar(value: Any) -> str | None:
    """A value found in an answer as the history's text; None for nothing, null, a list or an object."""
    if value is _MISSING or value is None or isinstance(value, dict | list):
        return None
    return _text(value)


def _text(value: Any) -> str:
    """A value written into text: a string as it is, anything else as JSON (12, true, null)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()
