"""Orders in the merchant's database, and how a result notification changes one."""

from __future__ import annotations

import uuid
from typing import Any

from paychaos_targets.paystack._db import Queryable

_COLUMNS = """id, account, amount, promo_code, state, payment_key, payment_id, payment_state,
              attempts, last_error, created_at, updated_at, paid_at"""

TERMINAL = ("PAID", "FAILED", "REFUNDED")


class OrderConflict(Exception):
    def __init__(self, existing: dict[str, Any]) -> None:
        super().__init__("an order with this id exists with a different account, amount or promo code")
        self.existing = existing


async def create(
    pool: Queryable, order_id: str, fingerprint: str, account: str, amount: int,
    promo_code: str | None, state: str,
) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Insert an order; creating the same order again returns it (``created`` False)."""
    row = await pool.fetchrow(
        f"""INSERT INTO orders (id, request_hash, account, amount, promo_code, state)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING {_COLUMNS}""",
        order_id, fingerprint, account, amount, promo_code, state,
    )  # fmt: skip
    if row is not None:
        return dict(row), True
    existing = await pool.fetchrow(f"SELECT {_COLUMNS}, request_hash FROM orders WHERE id = $1", order_id)
    assert existing is not None
    order = dict(existing)
    if order.pop("request_hash") != fingerprint:
        raise OrderConflict(order)
    return order, False


async def get(pool: Queryable, order_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM orders WHERE id = $1", order_id)
    return dict(row) if row else None


async def update(
    pool: Queryable, order_id: str, *, only_from: tuple[str, ...] = (), **values: Any
) -> dict[str, Any] | None:
    """Set columns of an order (optionally only while it is in one of ``only_from``); return it."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    condition = f" AND state = ANY(${len(values) + 2}::text[])" if only_from else ""
    args = [order_id, *values.values(), *([list(only_from)] if only_from else [])]
    row = await pool.fetchrow(
        f"""UPDATE orders SET {sets}, updated_at = clock_timestamp()
            WHERE id = $1{condition} RETURNING {_COLUMNS}""",
        *args,
    )
    return dict(row) if row else None


async def record_attempt(
    pool: Queryable,
    order_id: str,
    key: str,
    *,
    payment: dict[str, Any] | None = None,
    error: str | None = None,
    final: bool = False,
) -> dict[str, Any]:
    """Count one payment request sent under ``key`` and what came of it; return the order.

    ``final`` means the gateway refused the request itself: the order fails.
    """
    row = await pool.fetchrow(
        f"""UPDATE orders SET attempts = attempts + 1, payment_key = $2,
                payment_id = coalesce($3, payment_id), payment_state = coalesce($4, payment_state),
                last_error = coalesce($5, last_error),
                state = CASE WHEN $6 AND state = 'PAYING' THEN 'FAILED' ELSE state END,
                updated_at = clock_timestamp()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        order_id, key, uuid.UUID(payment["id"]) if payment else None,
        payment["state"] if payment else None, error, final,
    )  # fmt: skip
    assert row is not None, f"order {order_id} vanished"
    return dict(row)


async def awaiting_payment(pool: Queryable, quiet_for: float = 0.0) -> list[dict[str, Any]]:
    """Accepted orders whose payment the gateway never acknowledged, untouched for ``quiet_for`` s."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM orders
            WHERE state = 'PAYING' AND payment_id IS NULL
              AND updated_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY created_at LIMIT 1000""",
        quiet_for,
    )
    return [dict(r) for r in rows]


async def awaiting_refund(pool: Queryable, quiet_for: float) -> list[dict[str, Any]]:
    """Orders whose refund was asked for and never confirmed, untouched for ``quiet_for`` seconds."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS} FROM orders
            WHERE state = 'REFUNDING' AND updated_at < clock_timestamp() - make_interval(secs => $1)
            ORDER BY updated_at LIMIT 200""",
        quiet_for,
    )
    return [dict(r) for r in rows]


# Applying a result notification is one statement: remember the event id, move the
# order if this is the event's first delivery and the order may still move, ship
# the goods on the move to PAID, and log the delivery. Concurrent duplicates queue
# on the processed_events key; only the first moves the order.
_RECEIVE = """
WITH first AS (
    INSERT INTO processed_events (event_id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING event_id
), moved AS (
    UPDATE orders SET {set_columns}, state = $5, payment_state = $8,
        last_error = coalesce($6, last_error), updated_at = clock_timestamp()
    WHERE id = $2 {guard}
    RETURNING id
), shipped AS (
    INSERT INTO fulfilments (order_id, event_id, payment_id)
    SELECT id, $1, $3 FROM moved WHERE $5 = 'PAID'
), receipt AS (
    INSERT INTO webhook_receipts (event_id, type, order_id, payment_id, first, applied)
    VALUES ($1, $4, $2, $3, EXISTS (SELECT 1 FROM first), EXISTS (SELECT 1 FROM moved))
)
SELECT EXISTS (SELECT 1 FROM first) AS first, EXISTS (SELECT 1 FROM moved) AS applied
"""

# event type -> (order state it leads to, states it may leave, payment state recorded)
_TRANSITIONS = {
    "payment.succeeded": ("PAID", ("CREATED", "PAYING", "FAILED"), "SUCCEEDED"),
    "payment.failed": ("FAILED", ("CREATED", "PAYING"), "FAILED"),
    "payment.refunded": ("REFUNDED", ("PAYING", "PAID", "REFUNDING"), "REFUNDED"),
}


EVENT_TYPES = frozenset(_TRANSITIONS)


async def receive_event(pool: Queryable, event: dict[str, Any], *, idempotent: bool) -> tuple[bool, bool]:
    """Record a delivered event and apply it; return (first delivery, order changed).

    ``idempotent=False`` is the ``webhook-not-idempotent`` defect: every delivery
    is applied, whatever the order's state, so a duplicate ships the goods again.
    """
    target, sources, payment_state = _TRANSITIONS[event["type"]]
    if target == "PAID":
        set_columns = "payment_id = $3, paid_at = coalesce(paid_at, clock_timestamp())"
        guard = "AND state = ANY($7::text[])"
    else:
        # A result about another payment of the order (there is one only under the
        # retry-new-key defect) must not undo the order's current payment.
        set_columns = "payment_id = coalesce(payment_id, $3)"
        guard = "AND state = ANY($7::text[]) AND (payment_id IS NULL OR payment_id = $3)"
    if idempotent:
        guard += " AND EXISTS (SELECT 1 FROM first)"
    elif target == "PAID":
        guard = "AND $7::text[] IS NOT NULL"  # defect: no state guard, no first-delivery check
    row = await pool.fetchrow(
        _RECEIVE.format(set_columns=set_columns, guard=guard),
        uuid.UUID(event["event_id"]), event["order_id"], uuid.UUID(event["payment_id"]), event["type"],
        target, event.get("reason"), list(sources), payment_state,
    )  # fmt: skip
    assert row is not None
    return bool(row["first"]), bool(row["applied"])
