"""Posting money: one idempotent, double-entry transaction per key.

>>> legs = [Leg("cust-00001", -500), Leg("merchant", +500)]
>>> # txn = await post(conn, Entry(scope="bank", key="pay:…", kind="debit", ...), legs, guard="cust-00001")

The paying (guarded) account is locked first and the others in id order, one
global order, so concurrent transactions never deadlock. The credit line is
enforced by the UPDATE itself (``balance + amount >= -credit_limit``): two
concurrent debits cannot both pass a check that only one of them fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from paychaos_targets.paystack._db import Conn, Queryable


@dataclass(frozen=True)
class Leg:
    account: str
    amount: int  # signed: negative leaves the account


@dataclass(frozen=True)
class Entry:
    scope: str
    key: str
    kind: str
    request_hash: str
    account: str
    amount: int
    reference: str | None = None
    original_key: str | None = None


class LedgerError(Exception):
    status = 400

    def __init__(self, message: str, txn: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.txn = txn


class Declined(LedgerError):
    status = 402


class UnknownAccount(LedgerError):
    status = 404


class KeyConflict(LedgerError):
    """The key was used with another request, or voided before this request arrived."""

    status = 409


_COLUMNS = "id, scope, key, kind, status, account, amount, reference, original_key, detail, created_at"


async def find(conn: Queryable, scope: str, key: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM transactions WHERE scope = $1 AND key = $2", scope, key
    )
    return dict(row) if row else None


async def post(
    conn: Queryable, entry: Entry, legs: list[Leg], *, guard: str | None
) -> tuple[dict[str, Any], bool]:
    """Post ``legs`` under ``entry.key``; return the transaction and whether it was a replay.

    ``guard`` names the account whose credit line must hold (``None``: no check).
    Raises :class:`Declined`, :class:`UnknownAccount` or :class:`KeyConflict`.
    The work is one call of the ``post_transaction`` function (schema.sql).
    """
    assert sum(leg.amount for leg in legs) == 0, "postings of a transaction must sum to zero"
    ordered = sorted(legs, key=lambda g: (g.account != guard, g.account))
    try:
        row = await conn.fetchrow(
            """SELECT r.outcome, (r.txn).*
               FROM post_transaction($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) r""",
            entry.scope, entry.key, entry.kind, entry.request_hash, entry.account, entry.amount,
            entry.reference, entry.original_key, [g.account for g in ordered], [g.amount for g in ordered],
            guard,
        )  # fmt: skip
    except asyncpg.NoDataFoundError as exc:
        raise UnknownAccount(str(exc)) from None
    except asyncpg.UniqueViolationError as exc:
        if exc.constraint_name == "transactions_one_refund":
            raise KeyConflict("this debit has already been refunded under another key") from None
        raise
    assert row is not None
    txn = dict(row)
    outcome = txn.pop("outcome")
    stored_hash = txn.pop("request_hash")
    if outcome == "exists":
        _check_replay(entry, txn, stored_hash)
        return txn, True
    if outcome == "declined":
        raise Declined(txn["detail"], txn)
    return txn, False


def _check_replay(entry: Entry, txn: dict[str, Any], stored_hash: str | None) -> None:
    """A reused key is fine only with the same request, and then gets the first answer."""
    if txn["status"] == "voided":
        raise KeyConflict(f"key {entry.key!r} was voided; nothing was or will be posted", txn)
    if stored_hash != entry.request_hash:
        raise KeyConflict(f"key {entry.key!r} was already used with a different request", txn)
    if txn["status"] == "declined":
        raise Declined(txn["detail"] or "declined", txn)


async def void(conn: Queryable, scope: str, key: str) -> tuple[dict[str, Any], bool]:
    """Cancel ``key`` if nothing was posted under it yet; return (transaction, voided_now).

    After a void, a request that arrives late with the same key is refused, so
    the caller can treat the operation as definitely not done.
    """
    row = await conn.fetchrow(
        f"""INSERT INTO transactions (scope, key, kind, status, amount)
            VALUES ($1, $2, 'void', 'voided', 0)
            ON CONFLICT (scope, key) DO NOTHING RETURNING {_COLUMNS}""",
        scope, key,
    )  # fmt: skip
    if row is not None:
        return dict(row), True
    existing = await find(conn, scope, key)
    assert existing is not None
    return existing, False


EQUITY = "equity"


@dataclass(frozen=True)
class NewAccount:
    id: str
    kind: str
    opening: int = 0
    credit_limit: int = 0


async def open_accounts(conn: Conn, accounts: list[NewAccount]) -> list[str]:
    """Create accounts that do not exist yet, funding each opening balance from equity.

    Runs in a handful of statements whatever the number of accounts, so seeding
    thousands of customers at start-up stays fast. Returns the ids created.
    """
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO accounts (id, kind) VALUES ($1, 'equity') ON CONFLICT DO NOTHING", EQUITY
        )
        equity = await conn.fetchval("SELECT balance FROM accounts WHERE id = $1 FOR UPDATE", EQUITY)
        opened = await conn.fetch(
            """WITH spec AS (
                   SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[])
                       AS s(id, kind, opening, credit_limit)),
               created AS (
                   INSERT INTO accounts (id, kind, balance, credit_limit)
                   SELECT id, kind, opening, credit_limit FROM spec
                   ON CONFLICT (id) DO NOTHING RETURNING id, balance),
               txn AS (
                   INSERT INTO transactions (scope, key, kind, status, account, amount)
                   SELECT 'bank', 'open:' || id, 'opening', 'posted', id, balance
                   FROM created WHERE balance <> 0
                   RETURNING id, account, amount)
               SELECT c.id AS account, t.id AS txn_id, c.balance AS amount
               FROM created c LEFT JOIN txn t ON t.account = c.id
               ORDER BY t.id""",
            [a.id for a in accounts], [a.kind for a in accounts],
            [a.opening for a in accounts], [a.credit_limit for a in accounts],
        )  # fmt: skip
        funded = [r for r in opened if r["txn_id"] is not None]
        if funded:
            txn_ids, names, amounts, after = [], [], [], []
            for r in funded:
                equity -= r["amount"]
                txn_ids += [r["txn_id"], r["txn_id"]]
                names += [r["account"], EQUITY]
                amounts += [r["amount"], -r["amount"]]
                after += [r["amount"], equity]
            await conn.execute(
                """INSERT INTO postings (txn_id, account, amount, balance_after)
                   SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])""",
                txn_ids, names, amounts, after,
            )  # fmt: skip
            await conn.execute("UPDATE accounts SET balance = $2 WHERE id = $1", EQUITY, equity)
        return [r["account"] for r in opened]
