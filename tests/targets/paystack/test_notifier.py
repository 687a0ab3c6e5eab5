"""notifier and the merchant's webhook: signed, at-least-once, retried with backoff, applied once."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from paychaos.system import Stack
from paychaos_targets.paystack import signing
from tests.support.db import query, scalar
from tests.support.netfault import FaultyLink
from tests.support.wait import wait_until
from tests.targets.paystack.conftest import (
    StartStack,
    checkout,
    new_account,
    order_state,
    webhook_secret,
)

pytestmark = pytest.mark.integration


def delivered_event(stack: Stack, order_id: str) -> bytes:
    """The exact body the notifier delivered for the order's payment result."""
    body = wait_until(
        lambda: scalar(
            stack.dsn("notifier"),
            "SELECT body::text FROM deliveries WHERE order_id = $1 AND state = 'DELIVERED'",
            order_id,
        ),
        timeout=10,
        what="the delivery",
    )
    return str(body).encode()


async def _post_many(url: str, body: bytes, headers: dict[str, str], count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as merchant:
        replies = await asyncio.gather(
            *(merchant.post("/webhooks/payments", content=body, headers=headers) for _ in range(count))
        )
    return [r.status_code for r in replies]


def _redeliver(stack: Stack, times: int) -> tuple[str, list[int]]:
    order_id = checkout(stack, new_account(stack)).json()["order"]["id"]
    body = delivered_event(stack, order_id)
    headers = {
        "Content-Type": "application/json",
        signing.HEADER: signing.sign(body, webhook_secret(stack)),
    }
    return order_id, asyncio.run(_post_many(stack.url("merchant"), body, headers, times))


def fulfilments(stack: Stack, order_id: str) -> int:
    return int(
        scalar(stack.dsn("merchant"), "SELECT count(*) FROM fulfilments WHERE order_id = $1", order_id)
    )


def test_duplicate_notifications_change_nothing(shared: Stack) -> None:
    order_id, statuses = _redeliver(shared, 5)
    assert statuses == [200] * 5
    assert order_state(shared, order_id) == "PAID"
    assert fulfilments(shared, order_id) == 1
    receipts = query(
        shared.dsn("merchant"),
        "SELECT first, applied FROM webhook_receipts WHERE order_id = $1 ORDER BY id",
        order_id,
    )
    assert receipts[0] == {"first": True, "applied": True}
    assert receipts[1:] == [{"first": False, "applied": False}] * 5


def test_webhook_not_idempotent_defect_fulfils_on_every_delivery(paystack: StartStack) -> None:
    stack = paystack(defects=("webhook-not-idempotent",))
    order_id, statuses = _redeliver(stack, 5)
    assert statuses == [200] * 5
    assert fulfilments(stack, order_id) == 6  # shipped six times: the incident


def test_the_webhook_refuses_unsigned_forged_and_stale_notifications(shared: Stack) -> None:
    order_id = checkout(shared, new_account(shared)).json()["order"]["id"]
    body = delivered_event(shared, order_id)
    secret = webhook_secret(shared)
    attempts = {
        "unsigned": {},
        "wrong secret": {signing.HEADER: signing.sign(body, b"not-the-secret")},
        "stale": {signing.HEADER: signing.sign(body, secret, now=datetime.now().timestamp() - 3600)},
        "other body": {signing.HEADER: signing.sign(body + b" ", secret)},
    }
    with httpx.Client(base_url=shared.url("merchant")) as merchant:
        statuses = {
            name: merchant.post("/webhooks/payments", content=body, headers=headers).status_code
            for name, headers in attempts.items()
        }
    assert statuses == {"unsigned": 401, "wrong secret": 401, "stale": 401, "other body": 401}


def test_every_stack_signs_with_its_own_key_and_the_public_development_key_is_refused(
    shared: Stack, paystack: StartStack
) -> None:
    other = paystack()
    assert webhook_secret(shared) != webhook_secret(other)
    order_id = checkout(shared, new_account(shared)).json()["order"]["id"]
    body = delivered_event(shared, order_id)
    development = signing.sign(body, b"paystack-development-secret")
    with httpx.Client(base_url=shared.url("merchant")) as merchant:
        reply = merchant.post("/webhooks/payments", content=body, headers={signing.HEADER: development})
    assert reply.status_code == 401


def test_webhook_accepts_unsigned_defect_ships_an_order_nobody_paid(paystack: StartStack) -> None:
    stack = paystack(defects=("webhook-accepts-unsigned",))
    reply = checkout(stack, "poor-00001")  # no money: declined
    assert reply.json()["payment"]["state"] == "FAILED"
    order_id = reply.json()["order"]["id"]
    wait_until(lambda: order_state(stack, order_id) == "FAILED", timeout=10, what="payment.failed")
    forged = {"event_id": str(uuid.uuid4()), "type": "payment.succeeded", "payment_id": str(uuid.uuid4()),
              "order_id": order_id, "state": "SUCCEEDED"}  # fmt: skip
    with httpx.Client(base_url=stack.url("merchant")) as merchant:
        unsigned = merchant.post("/webhooks/payments", json=forged)
        wrong = merchant.post("/webhooks/payments", json=forged, headers={signing.HEADER: "t=1,v1=00"})
    assert (unsigned.status_code, wrong.status_code) == (200, 401)  # a bad signature is still refused
    assert order_state(stack, order_id) == "PAID"
    assert fulfilments(stack, order_id) == 1  # shipped, and nobody paid


def attempts(stack: Stack, order_id: str) -> list[dict[str, Any]]:
    return query(
        stack.dsn("notifier"),
        """SELECT a.attempt, a.outcome, a.started_at FROM delivery_attempts a
           JOIN deliveries d ON d.event_id = a.event_id WHERE d.order_id = $1 ORDER BY a.attempt""",
        order_id,
    )


def test_notifications_are_retried_with_backoff_until_the_merchant_takes_them(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(links={"notifier_merchant": faulty})
    faulty.set("down")
    order_id = checkout(stack, new_account(stack)).json()["order"]["id"]
    failed = wait_until(lambda: len(a := attempts(stack, order_id)) >= 5 and a, timeout=15, what="5 attempts")
    assert order_state(stack, order_id) == "PAYING"
    assert all(a["outcome"] == "connection" for a in failed)
    gaps = [(b["started_at"] - a["started_at"]).total_seconds() for a, b in itertools.pairwise(failed)]
    # Base 50 ms doubling per attempt, jittered between half and all of it: gap n lies in
    # [25 ms·2ⁿ, 50 ms·2ⁿ] plus the attempt itself; the fourth gap always exceeds the first.
    assert gaps[3] > gaps[0]
    assert gaps[0] < 0.2
    faulty.heal()
    wait_until(lambda: order_state(stack, order_id) == "PAID", timeout=15, what="delivery after the outage")
    assert attempts(stack, order_id)[-1]["outcome"] == "delivered"
    assert fulfilments(stack, order_id) == 1


def delivery_state(stack: Stack, order_id: str) -> str:
    return str(scalar(stack.dsn("notifier"), "SELECT state FROM deliveries WHERE order_id = $1", order_id))


def test_notify_fire_and_forget_defect_gives_up_after_one_attempt(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(defects=("notify-fire-and-forget",), links={"notifier_merchant": faulty})
    faulty.set("down")
    order_id = checkout(stack, new_account(stack)).json()["order"]["id"]
    state = wait_until(
        lambda: (
            scalar(stack.dsn("notifier"), "SELECT state FROM deliveries WHERE order_id = $1", order_id)
            in ("FAILED", "DELIVERED")
            and scalar(stack.dsn("notifier"), "SELECT state FROM deliveries WHERE order_id = $1", order_id)
        ),
        timeout=10,
    )
    faulty.heal()
    assert state == "FAILED"  # final: nothing will try again
    assert len(attempts(stack, order_id)) == 1
    assert order_state(stack, order_id) == "PAYING"  # the merchant never learns it was paid
