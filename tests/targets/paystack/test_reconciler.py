"""reconciler against real PostgreSQL: it asks the bank and completes, fails or refunds."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from paychaos.system import Stack
from tests.support.db import execute, query, scalar
from tests.support.netfault import FaultyLink
from tests.support.wait import wait_until
from tests.targets.paystack.conftest import StartStack, client, new_account

pytestmark = pytest.mark.integration


def gateway_state(stack: Stack, table: str, item_id: str) -> str:
    return str(scalar(stack.dsn("gateway"), f"SELECT state FROM {table} WHERE id = $1", uuid.UUID(item_id)))


def test_a_payment_the_bank_never_saw_is_voided_then_failed(shared: Stack) -> None:
    # A gateway that died between writing the payment and calling the bank leaves this behind.
    account = new_account(shared)
    payment_id, order_id = uuid.uuid4(), uuid.uuid4().hex
    execute(
        shared.dsn("gateway"),
        f"""INSERT INTO payments (id, key, request_hash, order_id, account, amount, currency, cap_percent,
                                  cap_amount, discount, charged, state, expires_at, updated_at)
            VALUES ('{payment_id}', 'orphan-{payment_id}', 'x', '{order_id}', '{account}', 500, 'CNY', 10,
                    5000, 0, 500, 'PENDING', now() + interval '5 min', now() - interval '1 min')""",
    )
    wait_until(lambda: gateway_state(shared, "payments", str(payment_id)) == "FAILED", timeout=10)
    with client(shared, "bank") as bank:
        key = bank.get(f"/transactions/pay:{payment_id}").json()
        late = bank.post("/debits", json={"key": f"pay:{payment_id}", "account": account, "amount": 500})
    assert key["status"] == "voided"
    assert late.status_code == 409  # had the gateway's request still been on its way, it is refused
    actions = query(
        shared.dsn("reconciler"), "SELECT finding, action FROM actions WHERE subject_id = $1", payment_id
    )
    assert actions == [{"finding": "bank: voided", "action": "not_debited"}]


def test_a_payout_whose_outcome_was_unknown_is_found_paid_on_its_channel(
    paystack: StartStack, faulty: FaultyLink
) -> None:
    stack = paystack(args={"gateway": ["--channel-timeout", "0.4"]}, links={"gateway_channel_a": faulty})
    faulty.set("delay", 1.0)  # channel A pays, but neither the answer nor a status query gets back in time
    with client(stack, "gateway", timeout=30) as gateway:
        answered: dict[str, Any] = gateway.post(
            "/payouts", json={"amount": 700, "payee": "bob"}, headers={"Idempotency-Key": uuid.uuid4().hex}
        ).json()
    faulty.heal()
    assert (answered["state"], answered["channel"]) == ("UNKNOWN", "a")
    wait_until(lambda: gateway_state(stack, "payouts", answered["id"]) == "PAID", timeout=15)
    paid = query(
        stack.dsn("bank"),
        "SELECT scope FROM transactions WHERE kind = 'payout' AND status = 'posted' AND reference = $1",
        answered["id"],
    )
    assert paid == [{"scope": "channel-a"}]
    action = query(stack.dsn("reconciler"), "SELECT finding, action FROM actions WHERE subject = 'payout'")
    assert action == [{"finding": "a: posted, b: voided", "action": "paid"}]
