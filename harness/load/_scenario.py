"""What a target's load scenarios are written against: a seeded context that makes recorded requests.

Most scenarios need no Python: ``target.yaml`` describes them as HTTP steps
(``load.scenarios.<name>.steps``, compiled by :mod:`paychaos.load._steps`). For what
steps cannot say (arithmetic on values, polling, signed bodies), a target names a
scenario module (``load.module``), written against the public ``paychaos.load``
names (``from paychaos.load import Context, Reply``). The module holds
``SCENARIOS``, a mapping from scenario name to a function taking a
:class:`Context`, and ``payment_of``, which reads the payment id and state out
of an answer's body for the history. It may also hold ``outcome_of``, which
says what an answer told the client about its payment as a final word:
``"succeeded"``, ``"failed"`` or None (nothing final yet); invariants hold that
against what really happened. It never imports Locust::

    def pay(ctx: Context) -> None:
        order = ctx.unique("order")
        ctx.request("pay", "POST", "/checkout", json={"order_id": order, ...},
                    order_id=order, key=f"order:{order}", amount=1200)

    SCENARIOS = {"pay": pay}

Every ``request`` is one client operation and one line of the history journal,
whatever its outcome. In an open-loop load the first request of an iteration also
records when the iteration was due (``intended``, see :meth:`Context.begin`).
Every random choice comes from ``ctx.random``, seeded from the experiment's
seed, the load process and the user.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from paychaos.load._history import Outcome


@dataclass(frozen=True)
class Reply:
    outcome: Outcome
    status: int  # 0 when no answer came
    body: Any  # the decoded JSON body, or None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def unknown(self) -> bool:
        """No answer: the operation may or may not have happened."""
        return self.outcome in ("timeout", "connection")


class Transport(Protocol):
    """Sends one request; the Locust process supplies one over FastHttpUser's client."""

    def __call__(
        self,
        kind: str,
        method: str,
        path: str,
        json: Any,
        headers: dict[str, str] | None,
        data: bytes | None = None,
    ) -> Reply: ...


class Recorder(Protocol):
    def __call__(self, record: dict[str, Any]) -> None: ...


PaymentOf = Callable[[Any], tuple[str | None, str | None]]
OutcomeOf = Callable[[Any], str | None]


class Context:
    def __init__(
        self,
        *,
        seed: int,
        process: int,
        user: int,
        transport: Transport,
        record: Recorder,
        payment_of: PaymentOf,
        outcome_of: OutcomeOf | None = None,
    ) -> None:
        self.random = random.Random(f"{seed}:{process}:{user}")
        self.process = process
        self.user = user
        self._transport = transport
        self._record = record
        self._payment_of = payment_of
        self._outcome_of = outcome_of
        self._count = 0
        self._intended: float | None = None

    def begin(self, intended: float | None = None) -> None:
        """A scenario iteration starts; in an open loop, ``intended`` is when it was due (epoch seconds).

        The iteration's first request records ``intended`` beside its own start, and latency is
        measured from it: when every user was busy and the iteration began late, the wait counts
        as the client's wait (as a customer's would), instead of disappearing.
        """
        self._intended = intended

    def unique(self, prefix: str) -> str:
        """An id no other user, process or operation of this run uses; the same on a rerun with the seed."""
        self._count += 1
        return f"{prefix}-{self.process}-{self.user}-{self._count}"

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        order_id: str | None = None,
        key: str | None = None,
        amount: int | None = None,
        payment_id: str | None = None,
        expect: tuple[int, ...] = (),
        forged: bool = False,
    ) -> Reply:
        """Send one request and record it as one operation of kind ``kind``.

        ``data`` is a body sent byte for byte (e.g. one a signature covers),
        instead of ``json``. ``expect`` lists refusals the scenario is
        provoking on purpose (a reused key must get 409): they are recorded as
        failed, and marked expected, so service levels do not count them as
        errors. ``forged`` marks a request made inauthentic on purpose (an
        unsigned or stale notification): the stack must not act on it, and
        invariants look for any trace that it did. ``payment_id`` names the
        payment a request is about when the answer does not (a forged
        notification's claim).
        """
        op_id = self.unique("op")
        intended, self._intended = self._intended, None
        start = time.time()
        reply = self._transport(kind, method, path, json, headers, data)
        end = time.time()
        answered_id, state = self._payment_of(reply.body) if reply.body is not None else (None, None)
        record: dict[str, Any] = {
            "id": op_id,
            "kind": kind,
            "order_id": order_id,
            "key": key,
            "amount": amount,
            **({"intended": intended} if intended is not None else {}),
            "start": start,
            "end": end,
            "outcome": reply.outcome,
            "status": reply.status or None,
            "payment_id": payment_id or answered_id,
            "payment_state": state,
            "error": reply.error,
            "expected": reply.status in expect,
        }
        told = self._outcome_of(reply.body) if self._outcome_of and reply.body is not None else None
        if told is not None:
            record["told"] = told
        if forged:
            record["forged"] = True
        if expect:
            record["refusal_expected"] = True
        self._record(record)
        return reply
