"""Orders in the merchant's database, and how a result notification changes one."""

from __future__ import annotations

import uuid
from typing import Any

from targets.paystack._db import Queryable

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


async def update(pool: Queryable, order_id: str, *, only_from: tuple[str, ...] = (), **values: Any) -> bool:
    """Set columns of an order (optionally only while it is in one of ``only_from``)."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    condition = f" AND state = ANY(${len(values) + 2}::text[])" if only_from else ""
    args = [order_id, *values.values(), *([list(only_from)] if only_from else [])]
    result = await pool.execute(
        f"UPDATE orders SET {sets}, updated_at = clock_timestamp() WHERE id = $1{condition}", *args
    )
    return result != "UPDATE 0"


async def count_attempt(pool: Queryable, order_id: str, key: str) -> None:
    await pool.execute(
        """UPDATE orders SET attempts = attempts + 1, payment_key = $2, updated_at = clock_timestamp()
           WHERE id = $1""",
        order_id, key,
    )  # fmt: skip


async def awaiting_payment(pool: Queryable) -> list[str]:
    """Orders accepted for payment whose payment the gateway never acknowledged."""
    rows = await pool.fetch(
        "SELECT id FROM orders WHERE state = 'PAYING' AND payment_id IS NULL ORDER BY created_at"
    )
    return [r["id"] for r in rows]


async def apply_event(conn: Queryable, event: dict[str, Any], *, idempotent: bool) -> bool:
    """Apply a payment result to its order; return whether the order changed.

    Correct handling moves the order only out of the states the event may
    leave, so a duplicate or stale event is a no-op and fulfilment happens on
    the one transition to PAID. ``idempotent=False`` is the
    ``webhook-not-idempotent`` defect: every delivery is applied again.
    """
    order_id, payment_id = event["order_id"], uuid.UUID(event["payment_id"])
    kind = event["type"]
    if kind == "payment.succeeded":
        guard = "AND state IN ('CREATED', 'PAYING', 'FAILED')" if idempotent else ""
        changed = await conn.fetchval(
            f"""UPDATE orders SET state = 'PAID', payment_id = $2, payment_state = 'SUCCEEDED',
                    paid_at = coalesce(paid_at, clock_timestamp()), updated_at = clock_timestamp()
                WHERE id = $1 {guard} RETURNING true""",
            order_id, payment_id,
        )  # fmt: skip
        if changed:
            await conn.execute(
                "INSERT INTO fulfilments (order_id, event_id, payment_id) VALUES ($1, $2, $3)",
                order_id, uuid.UUID(event["event_id"]), payment_id,
            )  # fmt: skip
        return bool(changed)
    target, sources = {
        "payment.failed": ("FAILED", ("CREATED", "PAYING")),
        "payment.refunded": ("REFUNDED", ("PAYING", "PAID", "REFUNDING")),
    }.get(kind, (None, ()))
    if target is None:
        return False
    changed = await conn.fetchval(
        """UPDATE orders SET state = $3, payment_state = $3, last_error = coalesce($5, last_error),
               updated_at = clock_timestamp()
           WHERE id = $1 AND state = ANY($4::text[]) AND (payment_id IS NULL OR payment_id = $2)
           RETURNING true""",
        order_id, payment_id, target, list(sources), event.get("reason"),
    )  # fmt: skip
    return bool(changed)
