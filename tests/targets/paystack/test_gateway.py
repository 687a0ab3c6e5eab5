"""gateway against real PostgreSQL: idempotency, outcomes under bank timeouts, overload, promotions."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from paychaos.system import Stack
from tests.support.db import execute, query, scalar
from tests.support.netfault import FaultyLink
from tests.support.wait import wait_until
from tests.targets.paystack.conftest import StartStack, client, debits, new_account

pytestmark = pytest.mark.integration


def pay(
    stack: Stack, account: str, amount: int = 1_000, key: str | None = None, **extra: Any
) -> httpx.Response:
    body = {"order_id": uuid.uuid4().hex, "account": account, "amount": amount} | extra
    with client(stack, "gateway") as gateway:
        return gateway.post("/payments", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def payment(stack: Stack, payment_id: str) -> dict[str, Any]:
    with client(stack, "gateway") as gateway:
        return dict(gateway.get(f"/payments/{payment_id}").json())


def test_same_key_and_body_give_the_same_payment_and_another_body_is_refused(shared: Stack) -> None:
    account = new_account(shared)
    key, order = uuid.uuid4().hex, uuid.uuid4().hex
    body = {"order_id": order, "account": account, "amount": 1_200}
    with client(shared, "gateway") as gateway:
        first = gateway.post("/payments", json=body, headers={"Idempotency-Key": key})
        again = gateway.post("/payments", json=body, headers={"Idempotency-Key": key})
        other = gateway.post("/payments", json={**body, "amount": 1_300}, headers={"Idempotency-Key": key})
        no_key = gateway.post("/payments", json=body)
    assert first.status_code == 201
    assert first.json()["state"] == "SUCCEEDED"
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert no_key.status_code == 400
    assert debits(shared, order) == 1


def test_a_state_change_and_its_outbox_event_commit_in_one_transaction(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    # Keep the notifier away from the outbox, so no acknowledgement rewrites the rows.
    stack = paystack(links={"notifier_gateway": faulty})
    faulty.set("down")
    succeeded = pay(stack, new_account(stack)).json()
    failed = pay(stack, new_account(stack, balance=10), amount=1_000).json()
    assert (succeeded["state"], failed["state"]) == ("SUCCEEDED", "FAILED")
    rows = query(
        stack.dsn("gateway"),
        """SELECT p.state, o.type, p.xmin::text = o.xmin::text AS same_transaction
           FROM payments p JOIN outbox o ON o.payment_id = p.id WHERE p.id = ANY($1::uuid[]) ORDER BY p.state""",
        [succeeded["id"], failed["id"]],
    )
    assert rows == [
        {"state": "FAILED", "type": "payment.failed", "same_transaction": True},
        {"state": "SUCCEEDED", "type": "payment.succeeded", "same_transaction": True},
    ]

    # If the event cannot be written, the state change does not happen either.
    execute(
        stack.dsn("gateway"),
        """CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$;
           CREATE TRIGGER refuse_events BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_events();""",
    )
    order = uuid.uuid4().hex
    broken = pay(stack, new_account(stack), order_id=order)
    stuck = query(stack.dsn("gateway"), "SELECT state FROM payments WHERE order_id = $1", order)
    events = scalar(stack.dsn("gateway"), "SELECT count(*) FROM outbox o JOIN payments p ON p.id = o.payment_id "
                    "WHERE p.order_id = $1", order)  # fmt: skip
    assert broken.status_code == 500
    assert stuck == [{"state": "PENDING"}]  # not SUCCEEDED without its event
    assert events == 0


def test_a_succeeded_payment_is_refunded_once(shared: Stack) -> None:
    account = new_account(shared)
    paid = pay(shared, account, amount=2_500).json()
    with client(shared, "gateway") as gateway:
        first = gateway.post(f"/payments/{paid['id']}/refund")
        again = gateway.post(f"/payments/{paid['id']}/refund")
    with client(shared, "bank") as bank:
        balance = bank.get(f"/accounts/{account}").json()["balance"]
    assert (first.json()["state"], again.json()["state"]) == ("REFUNDED", "REFUNDED")
    assert balance == 1_000_000
    events = query(
        shared.dsn("gateway"),
        "SELECT type FROM outbox WHERE payment_id = $1 ORDER BY seq",
        uuid.UUID(paid["id"]),
    )
    assert [e["type"] for e in events] == ["payment.succeeded", "payment.refunded"]


# The bank answers 1 s late, the gateway waits 0.4 s: the debit lands, the answer does not.
SLOW_BANK = {"gateway": ["--bank-timeout", "0.4"]}


def _pay_through_slow_bank(stack: Stack, link: FaultyLink) -> dict[str, Any]:
    account = new_account(stack)
    link.set("delay", 1.0)
    reply = pay(stack, account)
    link.heal()
    return dict(reply.json())


def test_a_bank_timeout_leaves_the_payment_unknown_until_the_reconciler_completes_it(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(args=SLOW_BANK, links={"gateway_bank": faulty})
    answered = _pay_through_slow_bank(stack, faulty)
    assert answered["state"] == "UNKNOWN"  # never FAILED: the bank may have debited
    resolved = wait_until(
        lambda: payment(stack, answered["id"])["state"] != "UNKNOWN" and payment(stack, answered["id"]),
        timeout=15,
        what="the reconciler to resolve the payment",
    )
    assert resolved["state"] == "SUCCEEDED"
    assert debits(stack, answered["order_id"]) == 1


def test_timeout_as_failure_defect_fails_a_debited_payment_and_never_refunds(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(defects=("timeout-as-failure",), args=SLOW_BANK, links={"gateway_bank": faulty})
    answered = _pay_through_slow_bank(stack, faulty)
    assert answered["state"] == "FAILED"
    wait_until(lambda: debits(stack, answered["order_id"]) == 1, timeout=5, what="the late debit")
    # Two reconciliation passes after the payment's grace period (1.5 s) had the chance
    # to look at it; a FAILED payment is final to them, so no refund ever comes.
    due = datetime.fromisoformat(answered["updated_at"]) + timedelta(seconds=1.5)
    wait_until(
        lambda: (
            scalar(stack.dsn("reconciler"), "SELECT count(*) FROM passes WHERE started_at > $1", due) >= 2
        ),
        timeout=10,
        what="two reconciliation passes",
    )
    refunds = scalar(
        stack.dsn("bank"), "SELECT count(*) FROM transactions WHERE kind = 'refund' AND reference = $1",
        answered["order_id"],
    )  # fmt: skip
    assert payment(stack, answered["id"])["state"] == "FAILED"
    assert refunds == 0  # the customer paid for a failed payment: the incident


def test_a_debit_found_after_the_payment_expired_is_refunded(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(
        args={"gateway": ["--bank-timeout", "0.4", "--payment-ttl", "0.5"]}, links={"gateway_bank": faulty}
    )
    answered = _pay_through_slow_bank(stack, faulty)
    resolved = wait_until(
        lambda: (
            payment(stack, answered["id"])["state"] not in ("UNKNOWN", "PENDING")
            and payment(stack, answered["id"])
        ),
        timeout=15,
    )
    assert resolved["state"] == "FAILED"
    assert resolved["failure_reason"] == "debited after the payment expired; refunded"
    net = scalar(
        stack.dsn("bank"),
        "SELECT sum(p.amount) FROM postings p JOIN transactions t ON t.id = p.txn_id "
        "WHERE t.reference = $1 AND p.account = $2",
        answered["order_id"], answered["account"],
    )  # fmt: skip
    assert net == 0  # debited, then given back


def test_no_reconciler_defect_leaves_unknown_payments_unknown(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(defects=("no-reconciler",), args=SLOW_BANK, links={"gateway_bank": faulty})
    answered = _pay_through_slow_bank(stack, faulty)
    # A correct reconciler resolves it within its grace period (1.5 s) plus one pass; give it 4 s.
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(lambda: payment(stack, answered["id"])["state"] != "UNKNOWN", timeout=4)
    assert debits(stack, answered["order_id"]) == 1


async def _concurrent_payments(url: str, account: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as gateway:
        return await asyncio.gather(
            *(
                gateway.post(
                    "/payments",
                    json={"order_id": uuid.uuid4().hex, "account": account, "amount": 100},
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                for _ in range(count)
            )
        )


def test_payments_beyond_capacity_get_503_with_retry_after_and_leave_no_trace(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(args={"gateway": ["--max-inflight", "3"]}, links={"gateway_bank": faulty})
    account = new_account(stack)
    faulty.set("delay", 0.5)
    replies = asyncio.run(_concurrent_payments(stack.url("gateway"), account, 12))
    faulty.heal()
    refused = [r for r in replies if r.status_code == 503]
    accepted = [r for r in replies if r.status_code == 201]
    assert len(accepted) == 3
    assert len(refused) == 9
    assert all(r.headers["Retry-After"] == "1" for r in refused)
    assert scalar(stack.dsn("gateway"), "SELECT count(*) FROM payments") == 3


def _promo_payment(stack: Stack) -> dict[str, Any]:
    with client(stack, "gateway") as gateway:
        config = gateway.put("/admin/promotion", json={"percent": 20, "applies_to": "all"})
        assert config.status_code == 200, config.text
        assert config.json()["caps"] == {"max_percent": 10.0, "max_amount": 5000}
    return dict(pay(stack, new_account(stack), amount=20_000).json())


def test_promotion_caps_hold_whatever_the_config_says(paystack: StartStack) -> None:
    paid = _promo_payment(paystack())
    assert (paid["discount"], paid["charged"]) == (2_000, 18_000)  # 10% cap, not the configured 20%


def test_uncapped_promo_defect_gives_the_misconfigured_discount(paystack: StartStack) -> None:
    paid = _promo_payment(paystack(defects=("uncapped-promo",)))
    assert (paid["discount"], paid["charged"]) == (4_000, 16_000)


def test_a_promotion_config_is_validated(shared: Stack) -> None:
    with client(shared, "gateway") as gateway:
        bad = gateway.put("/admin/promotion", json={"percent": 120, "applies_to": "all"})
        no_code = gateway.put("/admin/promotion", json={"percent": 5, "applies_to": "code"})
    assert bad.status_code == 422
    assert "between 0 and 100" in bad.json()["error"]
    assert no_code.status_code == 422


def payout(stack: Stack) -> dict[str, Any]:
    with client(stack, "gateway", timeout=30) as gateway:
        reply = gateway.post(
            "/payouts",
            json={"amount": 5_000, "payee": "alice"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    return dict(reply.json())


def paid_channels(stack: Stack, payout_id: str) -> list[str]:
    rows = query(
        stack.dsn("bank"),
        "SELECT scope FROM transactions WHERE kind = 'payout' AND status = 'posted' AND reference = $1 ORDER BY scope",
        payout_id,
    )
    return [r["scope"] for r in rows]


# Channel A answers 1 s late, the gateway waits 0.4 s: A pays, the gateway does not hear it.
SLOW_CHANNEL = {"gateway": ["--channel-timeout", "0.4"]}


def test_a_payout_that_timed_out_on_channel_a_is_never_paid_again_on_b(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(args=SLOW_CHANNEL, links={"gateway_channel_a": faulty})
    faulty.set("delay", 1.0)
    answered = payout(stack)
    faulty.heal()
    final = wait_until(
        lambda: (
            (
                p := scalar(
                    stack.dsn("gateway"), "SELECT state FROM payouts WHERE id = $1", uuid.UUID(answered["id"])
                )
            )
            in ("PAID", "FAILED")
            and p
        ),
        timeout=15,
    )
    assert final == "PAID"
    assert paid_channels(stack, answered["id"]) == ["channel-a"]


def test_failover_on_timeout_defect_pays_twice(paystack: StartStack, faulty: FaultyLink) -> None:
    stack = paystack(defects=("failover-on-timeout",), args=SLOW_CHANNEL, links={"gateway_channel_a": faulty})
    faulty.set("delay", 1.0)
    answered = payout(stack)
    faulty.heal()
    assert answered["channel"] == "b"
    channels = wait_until(lambda: len(c := paid_channels(stack, answered["id"])) == 2 and c, timeout=5)
    assert channels == ["channel-a", "channel-b"]  # the incident: paid on both channels
