"""merchant against real PostgreSQL: checkout, retries, overload, recovery, refunds, payouts."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from paychaos.system import Stack
from tests.support.db import execute, query, scalar
from tests.support.netfault import FaultyLink
from tests.support.wait import wait_until
from tests.targets.paystack.conftest import (
    StartStack,
    checkout,
    client,
    debits,
    new_account,
    order,
    order_state,
)

pytestmark = pytest.mark.integration


def test_a_checkout_is_paid_notified_and_fulfilled_once(shared: Stack) -> None:
    reply = checkout(shared, new_account(shared))
    assert reply.status_code == 200
    body = reply.json()
    assert body["payment"]["state"] == "SUCCEEDED"
    order_id = body["order"]["id"]
    # PAID comes only from the signed notification, not from the synchronous answer.
    wait_until(lambda: order_state(shared, order_id) == "PAID", timeout=10, what="the notification")
    fulfilled = query(
        shared.dsn("merchant"), "SELECT event_id FROM fulfilments WHERE order_id = $1", order_id
    )
    assert len(fulfilled) == 1
    assert debits(shared, order_id) == 1


def test_the_same_checkout_twice_is_one_order_and_one_payment(shared: Stack) -> None:
    account = new_account(shared)
    order_id = uuid.uuid4().hex
    first = checkout(shared, account, order_id=order_id)
    again = checkout(shared, account, order_id=order_id)
    different = checkout(shared, account, amount=9_999, order_id=order_id)
    assert first.status_code == 200
    assert again.status_code == 200
    assert different.status_code == 409
    assert debits(shared, order_id) == 1


def test_bad_input_is_refused_with_a_reason(shared: Stack) -> None:
    with client(shared, "merchant") as merchant:
        not_json = merchant.post("/checkout", content=b"{nope")
        no_amount = merchant.post("/checkout", json={"account": "cust-00001"})
        negative = merchant.post("/checkout", json={"account": "cust-00001", "amount": -5})
        unknown_order = merchant.post("/orders/nope/pay")
    assert not_json.status_code == 400
    assert no_amount.status_code == 422
    assert no_amount.json()["error"] == "amount is required"
    assert "positive" in negative.json()["error"]
    assert unknown_order.status_code == 404


def test_an_order_created_first_can_be_paid_and_paid_again(shared: Stack) -> None:
    account = new_account(shared)
    with client(shared, "merchant") as merchant:
        created = merchant.post("/orders", json={"account": account, "amount": 800}).json()["order"]
        paid = merchant.post(f"/orders/{created['id']}/pay")
        retried = merchant.post(f"/orders/{created['id']}/pay")
    assert created["state"] == "CREATED"
    assert paid.json()["payment"]["state"] == "SUCCEEDED"
    assert retried.status_code == 200
    assert debits(shared, created["id"]) == 1


def test_a_paid_order_is_refunded_and_the_merchant_is_told(shared: Stack) -> None:
    account = new_account(shared)
    order_id = checkout(shared, account, amount=3_000).json()["order"]["id"]
    wait_until(lambda: order_state(shared, order_id) == "PAID", timeout=10)
    with client(shared, "merchant") as merchant:
        refund = merchant.post(f"/orders/{order_id}/refund")
        unpaid = merchant.post("/orders", json={"account": account, "amount": 10}).json()["order"]["id"]
        refused = merchant.post(f"/orders/{unpaid}/refund")
    assert refund.status_code == 200
    assert refund.json()["payment"]["state"] == "REFUNDED"
    assert refused.status_code == 409
    wait_until(
        lambda: order_state(shared, order_id) == "REFUNDED", timeout=10, what="the refund notification"
    )
    with client(shared, "bank") as bank:
        assert bank.get(f"/accounts/{account}").json()["balance"] == 1_000_000


def test_a_payout_goes_through_channel_a(shared: Stack) -> None:
    with client(shared, "merchant", timeout=30) as merchant:
        reply = merchant.post("/payouts", json={"amount": 4_000, "payee": "supplier-1", "payout_id": "p-1"})
        again = merchant.post("/payouts", json={"amount": 4_000, "payee": "supplier-1", "payout_id": "p-1"})
    assert reply.status_code == 201
    assert (reply.json()["payout"]["state"], reply.json()["payout"]["channel"]) == ("PAID", "a")
    assert again.json()["payout"]["id"] == reply.json()["payout"]["id"]


# The bank answers 1 s late; the merchant gives the gateway 0.4 s and then retries.
SLOW_PAYMENTS = {"gateway": ["--bank-timeout", "5"], "merchant": ["--gateway-timeout", "0.4"]}


def _checkout_while_the_bank_is_slow(stack: Stack, link: FaultyLink) -> str:
    account = new_account(stack)
    link.set("delay", 1.0)
    order_id = uuid.uuid4().hex
    with client(stack, "merchant", timeout=30) as merchant:
        merchant.post("/checkout", json={"account": account, "amount": 2_000, "order_id": order_id})
    wait_until(lambda: order(stack, order_id)["attempts"] >= 2, timeout=10, what="a retry")
    link.heal()
    return order_id


def test_a_retried_payment_keeps_its_key_and_debits_once(paystack: StartStack, faulty: FaultyLink) -> None:
    stack = paystack(args=SLOW_PAYMENTS, links={"gateway_bank": faulty})
    order_id = _checkout_while_the_bank_is_slow(stack, faulty)
    wait_until(lambda: order_state(stack, order_id) == "PAID", timeout=15)
    keys = query(stack.dsn("gateway"), "SELECT key FROM payments WHERE order_id = $1", order_id)
    assert keys == [{"key": f"order:{order_id}"}]
    assert debits(stack, order_id) == 1


def test_retry_new_key_defect_debits_a_retried_payment_twice(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(defects=("retry-new-key",), args=SLOW_PAYMENTS, links={"gateway_bank": faulty})
    order_id = _checkout_while_the_bank_is_slow(stack, faulty)
    wait_until(lambda: debits(stack, order_id) >= 2, timeout=15, what="a second debit")
    assert scalar(stack.dsn("gateway"), "SELECT count(*) FROM payments WHERE order_id = $1", order_id) >= 2


async def _checkouts(url: str, account: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as merchant:
        return await asyncio.gather(
            *(merchant.post("/checkout", json={"account": account, "amount": 100}) for _ in range(count))
        )


# One worker and a queue of two: capacity for three orders while the gateway is unreachable.
SMALL_SHOP = {"merchant": ["--pay-workers", "1", "--queue-size", "2", "--respond-within", "0.3",
                           "--gateway-timeout", "0.3", "--backoff-max", "0.2"]}  # fmt: skip


def _overload(stack: Stack, link: FaultyLink, *, heal: bool = True) -> tuple[list[httpx.Response], list[str]]:
    account = new_account(stack)
    link.set("blackhole")
    replies = asyncio.run(_checkouts(stack.url("merchant"), account, 10))
    if heal:
        link.heal()
    accepted = [r.json()["order"]["id"] for r in replies if r.status_code in (200, 202)]
    return replies, accepted


def test_checkouts_beyond_capacity_get_503_and_every_accepted_order_is_paid(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(args=SMALL_SHOP, links={"merchant_gateway": faulty})
    replies, accepted = _overload(stack, faulty)
    refused = [r for r in replies if r.status_code == 503]
    assert len(accepted) == 3
    assert len(refused) == 7
    assert all(r.headers["Retry-After"] == "1" for r in refused)
    assert scalar(stack.dsn("merchant"), "SELECT count(*) FROM orders") == 3  # refused ones left no trace
    wait_until(
        lambda: all(order_state(stack, o) == "PAID" for o in accepted), timeout=20, what="every order paid"
    )


def test_drop_on_overload_defect_loses_accepted_orders(paystack: StartStack, faulty: FaultyLink) -> None:
    stack = paystack(defects=("drop-on-overload",), args=SMALL_SHOP, links={"merchant_gateway": faulty})
    _, accepted = _overload(stack, faulty)
    assert len(accepted) == 10  # everything was accepted …
    # … the three that had a job get paid; the rest were dropped and never reach the gateway.
    paid = "SELECT count(*) FROM orders WHERE state = 'PAID' AND id = ANY($1)"
    wait_until(lambda: scalar(stack.dsn("merchant"), paid, accepted) == 3, timeout=20, what="the kept orders")
    known = {
        r["id"] for r in query(stack.dsn("merchant"), "SELECT id FROM orders WHERE id = ANY($1)", accepted)
    }
    assert len(set(accepted) - known) == 7  # accepted, answered 202, and forgotten: the incident
    assert scalar(stack.dsn("gateway"), "SELECT count(*) FROM payments") == 3


def test_orders_accepted_before_a_restart_are_paid_after_it(paystack: StartStack, faulty: FaultyLink) -> None:
    stack = paystack(args=SMALL_SHOP, links={"merchant_gateway": faulty})
    _, accepted = _overload(stack, faulty, heal=False)
    assert len(accepted) == 3
    assert all(order_state(stack, o) == "PAYING" for o in accepted)
    stack.restart("merchant")  # the jobs in memory are gone; the orders are in the database
    faulty.heal()
    wait_until(
        lambda: all(order_state(stack, o) == "PAID" for o in accepted), timeout=20, what="recovered orders"
    )
    for order_id in accepted:
        assert debits(stack, order_id) == 1


def test_an_order_whose_job_was_lost_is_swept_up_and_paid(shared: Stack) -> None:
    # As left by a checkout whose database answer was cut off after the order was written:
    # the order is in the database, PAYING, and no job exists for it.
    account, order_id = new_account(shared), f"orphan-{uuid.uuid4().hex}"
    execute(
        shared.dsn("merchant"),
        f"""INSERT INTO orders (id, request_hash, account, amount, state, updated_at)
            VALUES ('{order_id}', 'x', '{account}', 1234, 'PAYING', clock_timestamp() - interval '1 minute')""",
    )
    wait_until(lambda: order_state(shared, order_id) == "PAID", timeout=20, what="the sweeper")
    assert debits(shared, order_id) == 1


def test_a_refund_left_unconfirmed_is_asked_for_again_and_completes(shared: Stack) -> None:
    # As left by a shop that marked the order REFUNDING and stopped (or lost the request) before
    # the gateway heard of it: the payment is still SUCCEEDED and nothing else would move it.
    reply = checkout(shared, new_account(shared))
    order_id = reply.json()["order"]["id"]
    wait_until(lambda: order_state(shared, order_id) == "PAID", timeout=10, what="the notification")
    execute(
        shared.dsn("merchant"),
        f"""UPDATE orders SET state = 'REFUNDING', updated_at = clock_timestamp() - interval '1 minute'
            WHERE id = '{order_id}'""",
    )
    wait_until(lambda: order_state(shared, order_id) == "REFUNDED", timeout=20, what="the sweeper")
    refunds = scalar(
        shared.dsn("bank"),
        "SELECT count(*) FROM transactions WHERE kind = 'refund' AND status = 'posted' AND reference = $1",
        order_id,
    )
    assert refunds == 1
