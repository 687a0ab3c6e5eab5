"""Payments: created once per idempotency key, moved through their states with an event each.

States::

    PENDING ──bank answered──▶ SUCCEEDED ──refund──▶ REFUNDING ──▶ REFUNDED
       │    ──bank declined──▶ FAILED
       └────no answer───────▶ UNKNOWN ──reconciler──▶ SUCCEEDED | FAILED (not debited,
                                                      or debited too late and refunded)

A move is one SQL statement that updates the payment *only if* it is still in
an expected state and inserts the outbox event in the same statement, so the
state and its event commit together or not at all, and two actors racing (the
request handler and the reconciler) cannot both move it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson

from paychaos_targets.paystack._db import Queryable
from paychaos_targets.paystack._web import fingerprint
from paychaos_targets.paystack.gateway.pricing import Caps, Price

UNRESOLVED = ("PENDING", "UNKNOWN", "REFUNDING")

# Which event (if any) announces arrival in a state.
EVENTS = {
    "SUCCEEDED": "payment.succeeded",
    "FAILED": "payment.failed",
    "REFUNDED": "payment.refunded",
}

_COLUMNS = """id, key, order_id, account, amount, currency, promo_code, discount, charged, state,
              failure_reason, bank_txn, created_at, updated_at, expires_at"""


@dataclass(frozen=True)
class PaymentRequest:
    order_id: str
    account: str
    amount: int
    currency: str
    promo_code: str | None

    def fingerprint(self) -> str:
        return fingerprint(**self.__dict__)


class KeyReused(Exception):
    def __init__(self, existing: dict[str, Any]) -> None:
        super().__init__("Idempotency-Key already used with a different request")
        self.existing = existing


async def create(
    conn: Queryable, key: str, req: PaymentRequest, price: Price, caps: Caps, ttl: float
) -> tuple[dict[str, Any], bool]:
    """Insert a PENDING payment for ``key``; return (payment, created). A replay returns the stored one."""
    row = await conn.fetchrow(
        f"""INSERT INTO payments (id, key, request_hash, order_id, account, amount, currency,
                promo_code, promo_percent, cap_percent, cap_amount, discount, charged, state, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'PENDING',
                    clock_timestamp() + $14::interval)
            ON CONFLICT (key) DO NOTHING
            RETURNING {_COLUMNS}""",
        uuid.uuid4(), key, req.fingerprint(), req.order_id, req.account, req.amount, req.currency,
        req.promo_code, price.percent, caps.max_percent, caps.max_amount, price.discount,
        price.charged, timedelta(seconds=ttl),
    )  # fmt: skip
    if row is not None:
        return dict(row), True
    existing = await conn.fetchrow(f"SELECT {_COLUMNS}, request_hash FROM payments WHERE key = $1", key)
    assert existing is not None, "a conflicting row cannot vanish: payments are never deleted"
    payment = dict(existing)
    if payment.pop("request_hash") != req.fingerprint():
        raise KeyReused(payment)
    return payment, False


async def get(conn: Queryable, payment_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM payments WHERE id = $1", payment_id)
    return dict(row) if row else None


async def move(
    conn: Queryable,
    payment_id: uuid.UUID,
    *,
    source: tuple[str, ...],
    target: str,
    reason: str | None = None,
    bank_txn: str | None = None,
) -> dict[str, Any] | None:
    """Move the payment from one of ``source`` to ``target`` and write its event, atomically.

    Returns the moved payment, or None if it was no longer in ``source``
    (someone else moved it first; read it again to see where it is).
    """
    event = EVENTS.get(target)
    row = await conn.fetchrow(
        f"""WITH moved AS (
                UPDATE payments
                SET state = $2,
                    failure_reason = CASE WHEN $2 = 'SUCCEEDED' THEN NULL
                                          ELSE coalesce($3, failure_reason) END,
                    bank_txn = coalesce($4, bank_txn), updated_at = clock_timestamp()
                WHERE id = $1 AND state = ANY($5::text[])
                RETURNING {_COLUMNS}
            ), event AS (
                INSERT INTO outbox (event_id, type, payment_id, order_id, body)
                SELECT $6, $7, id, order_id, jsonb_build_object(
                    'event_id', $6::uuid, 'type', $7::text, 'payment_id', id, 'order_id', order_id,
                    'state', state, 'amount', amount, 'charged', charged, 'reason', failure_reason)
                FROM moved WHERE $7::text IS NOT NULL
            )
            SELECT * FROM moved""",
        payment_id, target, reason, bank_txn, list(source), uuid.uuid4(), event,
    )  # fmt: skip
    return dict(row) if row else None


async def unresolved(conn: Queryable, older_than: float, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM payments
            WHERE state = ANY($1::text[]) AND updated_at < clock_timestamp() - $2::interval
            ORDER BY updated_at LIMIT $3""",
        list(UNRESOLVED), timedelta(seconds=older_than), limit,
    )  # fmt: skip
    return [dict(r) for r in rows]


async def pending_events(conn: Queryable, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT seq, body FROM outbox WHERE acked_at IS NULL ORDER BY seq LIMIT $1", limit
    )
    return [{"seq": r["seq"], **orjson.loads(r["body"])} for r in rows]


async def ack_events(conn: Queryable, event_ids: list[uuid.UUID]) -> int:
    result = await conn.execute(
        """UPDATE outbox SET acked_at = clock_timestamp()
           WHERE event_id = ANY($1::uuid[]) AND acked_at IS NULL""",
        event_ids,
    )
    return int(result.split()[-1])
