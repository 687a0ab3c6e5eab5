"""walletpay's tables, its migration, and the ledger's one way of moving money."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Conn = asyncpg.Connection | PoolConnectionProxy
log = logging.getLogger("walletpay")

MERCHANT = "merchant"
FUNDING = "funding"

# Both the API and the worker run this at start; an advisory lock keeps them from racing.
SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id          text PRIMARY KEY,            -- wallet:<customer>, merchant, funding
    kind        text NOT NULL,               -- wallet | merchant | funding
    balance     bigint NOT NULL DEFAULT 0,   -- cents
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS charges (
    id               text PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,
    fingerprint      text NOT NULL,          -- customer, amount, reference: a reused key must match
    customer         text NOT NULL,
    amount_cents     bigint NOT NULL CHECK (amount_cents > 0),
    reference        text NOT NULL UNIQUE,   -- the merchant's order reference
    status           text NOT NULL,          -- queued, processing, captured, declined, refunded
    attempts         int NOT NULL DEFAULT 0, -- times a worker claimed it
    claimed_by       text,
    lease_until      timestamptz,
    capture_txn      bigint,
    refund_txn       bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS charges_open ON charges (created_at) WHERE status IN ('queued', 'processing');
CREATE TABLE IF NOT EXISTS ledger_txns (
    id          bigserial PRIMARY KEY,
    key         text NOT NULL UNIQUE,        -- capture:<charge>, refund:<charge>, topup:<account>
    kind        text NOT NULL,               -- topup | capture | refund
    charge_id   text,
    reference   text,
    account     text NOT NULL,               -- the customer's wallet
    amount      bigint NOT NULL,             -- cents, positive
    status      text NOT NULL,               -- posted | declined
    reverses    bigint REFERENCES ledger_txns (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ledger_txns_charge ON ledger_txns (charge_id);
CREATE TABLE IF NOT EXISTS postings (
    id             bigserial PRIMARY KEY,
    txn_id         bigint NOT NULL REFERENCES ledger_txns (id),
    account        text NOT NULL REFERENCES accounts (id),
    amount         bigint NOT NULL,          -- signed: negative leaves the account
    balance_after  bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS result_reports (   -- every result report the API accepted
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL,
    charge_id    text NOT NULL,
    reference    text NOT NULL,
    outcome      text NOT NULL,               -- captured | declined
    first        boolean NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS fulfilments (      -- orders the merchant released, one row each time
    id          bigserial PRIMARY KEY,
    charge_id   text NOT NULL,
    reference   text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS worker_outbox (    -- result reports the worker owes the API
    event_id      text PRIMARY KEY,
    charge_id     text NOT NULL,
    reference     text NOT NULL,
    outcome       text NOT NULL,
    txn_id        bigint NOT NULL,
    acknowledged  boolean NOT NULL DEFAULT false,
    attempts      int NOT NULL DEFAULT 0,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS worker_outbox_due ON worker_outbox (updated_at) WHERE NOT acknowledged;
INSERT INTO accounts (id, kind) VALUES ('merchant', 'merchant'), ('funding', 'funding')
    ON CONFLICT DO NOTHING;
"""

# Errors worth retrying: the connection went away, or PostgreSQL refused for a while.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.QueryCanceledError,
)
TRANSIENT_OR_REFUSED: tuple[type[BaseException], ...] = (*TRANSIENT, asyncpg.PostgresError)


async def connect(dsn: str, *, max_size: int, stop: asyncio.Event) -> asyncpg.Pool:
    """A pool on ``dsn`` once the database answers, with walletpay's tables in it.

    The database may not be reachable yet (its proxy starts beside us): keep trying until ``stop``.
    """
    pause = 0.1
    while True:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=max_size,
                timeout=5,
                command_timeout=10,
                max_inactive_connection_lifetime=30,
            )
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(4242)")
                await conn.execute(SCHEMA)
            return pool
        except TRANSIENT_OR_REFUSED as exc:
            if stop.is_set():
                raise
            log.warning("database not ready (%s); retrying", exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


async def post(conn: Conn, txn_id: int, legs: Sequence[tuple[str, int]]) -> None:
    """Move money: each leg (account, signed cents) updates the balance and writes a posting.

    The caller holds the accounts' row locks (``lock_accounts``), taken in id order, so the
    postings of one account are numbered in the order its balance changed.
    """
    if sum(amount for _, amount in legs) != 0:
        raise ValueError(f"legs do not balance: {legs}")
    accounts = [a for a, _ in legs]
    amounts = [m for _, m in legs]
    await conn.execute(
        """
        WITH moved AS (
            UPDATE accounts a SET balance = a.balance + l.amount
            FROM unnest($2::text[], $3::bigint[]) AS l(account, amount)
            WHERE a.id = l.account
            RETURNING a.id, l.amount, a.balance
        )
        INSERT INTO postings (txn_id, account, amount, balance_after)
        SELECT $1, id, amount, balance FROM moved ORDER BY id
        """,
        txn_id,
        accounts,
        amounts,
    )


async def lock_accounts(conn: Conn, accounts: Sequence[str]) -> dict[str, int]:
    """Lock the accounts' rows in id order (no deadlocks) and return their balances."""
    rows = await conn.fetch(
        "SELECT id, balance FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        sorted(set(accounts)),
    )
    return {r["id"]: r["balance"] for r in rows}


def wallet(customer: str) -> str:
    return f"wallet:{customer}"
