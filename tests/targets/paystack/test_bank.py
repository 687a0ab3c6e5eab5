"""bank against real PostgreSQL: idempotent money movements, double entry, credit lines, void."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from paychaos.system import Stack
from tests.support.db import query, scalar
from tests.targets.paystack.conftest import StartStack, client, new_account

pytestmark = pytest.mark.integration


def _key() -> str:
    return uuid.uuid4().hex


def test_a_debit_is_idempotent_by_key(shared: Stack) -> None:
    account = new_account(shared)
    body = {"key": _key(), "account": account, "amount": 700, "reference": "order-1"}
    with client(shared, "bank") as bank:
        first = bank.post("/debits", json=body)
        again = bank.post("/debits", json=body)
        other = bank.post("/debits", json={**body, "amount": 701})
        balance = bank.get(f"/accounts/{account}").json()["balance"]
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409
    assert "different request" in other.json()["error"]
    assert balance == 1_000_000 - 700  # debited once


def test_postings_are_double_entry_and_balances_match_them(shared: Stack) -> None:
    account = new_account(shared)
    with client(shared, "bank") as bank:
        debit = bank.post("/debits", json={"key": _key(), "account": account, "amount": 500})
        bank.post("/refunds", json={"key": _key(), "debit_key": debit.json()["key"]})
    dsn = shared.dsn("bank")
    unbalanced = query(dsn, "SELECT txn_id FROM postings GROUP BY txn_id HAVING sum(amount) <> 0")
    mismatched = query(
        dsn,
        """SELECT a.id FROM accounts a LEFT JOIN postings p ON p.account = a.id
           GROUP BY a.id, a.balance HAVING a.balance <> coalesce(sum(p.amount), 0)""",
    )
    legs = query(
        dsn,
        """SELECT p.account, p.amount FROM postings p JOIN transactions t ON t.id = p.txn_id
           WHERE t.key = $1 ORDER BY p.amount""",
        debit.json()["key"],
    )
    assert unbalanced == []
    assert mismatched == []
    assert legs == [{"account": account, "amount": -500}, {"account": "merchant", "amount": 500}]


def test_a_debit_is_refunded_at_most_once(shared: Stack) -> None:
    account = new_account(shared)
    with client(shared, "bank") as bank:
        debit_key = bank.post("/debits", json={"key": _key(), "account": account, "amount": 900}).json()[
            "key"
        ]
        refund = {"key": _key(), "debit_key": debit_key}
        first = bank.post("/refunds", json=refund)
        replay = bank.post("/refunds", json=refund)
        another_key = bank.post("/refunds", json={"key": _key(), "debit_key": debit_key})
        unknown = bank.post("/refunds", json={"key": _key(), "debit_key": "never-debited"})
        balance = bank.get(f"/accounts/{account}").json()["balance"]
    assert (first.status_code, replay.status_code) == (201, 200)
    assert another_key.status_code == 409
    assert "already been refunded" in another_key.json()["error"]
    assert unknown.status_code == 404
    assert balance == 1_000_000


def test_status_by_key_and_void_make_an_unknown_outcome_certain(shared: Stack) -> None:
    account = new_account(shared)
    with client(shared, "bank") as bank:
        never_seen = bank.get("/transactions/nothing-here")
        key = _key()
        voided = bank.post(f"/transactions/{key}/void")
        late = bank.post("/debits", json={"key": key, "account": account, "amount": 100})
        posted_key = bank.post("/debits", json={"key": _key(), "account": account, "amount": 100}).json()[
            "key"
        ]
        too_late = bank.post(f"/transactions/{posted_key}/void")
        status = bank.get(f"/transactions/{posted_key}")
        balance = bank.get(f"/accounts/{account}").json()["balance"]
    assert never_seen.status_code == 404
    assert (voided.status_code, voided.json()["status"]) == (201, "voided")
    assert late.status_code == 409  # the request that was in flight can no longer land
    assert too_late.status_code == 409
    assert status.json()["status"] == "posted"
    assert balance == 1_000_000 - 100


def test_payouts_are_idempotent_per_channel_and_can_be_cancelled(shared: Stack) -> None:
    body = {"key": _key(), "amount": 300, "payee": "alice"}
    with client(shared, "bank") as bank:
        on_a = bank.post("/channels/a/payouts", json=body)
        replay = bank.post("/channels/a/payouts", json=body)
        status_a = bank.get(f"/channels/a/payouts/{body['key']}")
        unknown_on_b = bank.get(f"/channels/b/payouts/{body['key']}")
        cancelled_b = bank.post(f"/channels/b/payouts/{body['key']}/cancel")
        late_on_b = bank.post("/channels/b/payouts", json=body)
        no_channel = bank.post("/channels/c/payouts", json=body)
    assert (on_a.status_code, replay.status_code) == (201, 200)
    assert replay.json()["id"] == on_a.json()["id"]
    assert status_a.json()["status"] == "posted"
    assert unknown_on_b.status_code == 404
    assert cancelled_b.json()["status"] == "voided"
    assert late_on_b.status_code == 409
    assert no_channel.status_code == 404
    paid = scalar(
        shared.dsn("bank"),
        "SELECT count(*) FROM transactions WHERE kind = 'payout' AND status = 'posted' AND key = $1",
        body["key"],
    )
    assert paid == 1


def test_a_declined_debit_stays_declined_under_its_key(shared: Stack) -> None:
    account = new_account(shared, balance=100)
    body = {"key": _key(), "account": account, "amount": 101}
    with client(shared, "bank") as bank:
        first = bank.post("/debits", json=body)
        bank.post("/accounts", json={"id": f"{account}-x", "balance": 5})
        again = bank.post("/debits", json=body)
        unknown = bank.post("/debits", json={**body, "key": _key(), "account": "no-such-account"})
    assert first.status_code == 402
    assert first.json()["transaction"]["status"] == "declined"
    assert again.status_code == 402
    assert unknown.status_code == 404


async def _debit_concurrently(url: str, account: str, amount: int, count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as bank:
        replies = await asyncio.gather(
            *(
                bank.post("/debits", json={"key": _key(), "account": account, "amount": amount})
                for _ in range(count)
            )
        )
    return [r.status_code for r in replies]


def _credit_race(stack: Stack) -> tuple[list[int], int, list[dict[str, int]]]:
    """40 concurrent debits of 100 against a 1,000 credit line (room for exactly 10)."""
    account = new_account(stack, balance=0, credit_limit=1_000)
    statuses = asyncio.run(_debit_concurrently(stack.url("bank"), account, 100, 40))
    with client(stack, "bank") as bank:
        balance = bank.get(f"/accounts/{account}").json()["balance"]
    lowest = query(
        stack.dsn("bank"), "SELECT min(balance_after) AS low FROM postings WHERE account = $1", account
    )
    return statuses, balance, lowest


def test_concurrent_debits_never_pass_the_credit_line(shared: Stack) -> None:
    statuses, balance, lowest = _credit_race(shared)
    assert statuses.count(201) == 10
    assert statuses.count(402) == 30
    assert balance == -1_000
    assert lowest == [{"low": -1_000}]


@pytest.mark.slow
def test_credit_check_race_defect_lets_concurrent_debits_overdraw(paystack: StartStack) -> None:
    stack = paystack(defects=("credit-check-race",))
    statuses, balance, _ = _credit_race(stack)
    assert statuses.count(201) > 10, statuses
    assert balance < -1_000  # over the credit line: the incident
