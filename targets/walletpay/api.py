"""walletpay's API: charges, refunds, the worker's result reports, and (for tests) evidence.

Public:
    POST /v1/charges                     Idempotency-Key; {customer, amount_cents, reference}
                                         → 202 {charge: {id, status: "queued", …}}
    GET  /v1/charges/{id}[?wait=SECONDS] → 200 {charge} (waiting at most that long for a final status)
    POST /v1/charges/{id}/refunds        → 200 {charge, refund} | 409 not captured yet | 422 declined
Internal (X-Walletpay-Token):
    POST /internal/charges/{id}/result   {event_id, outcome: captured|declined, txn_id} from the worker
Test only (WALLETPAY_EVIDENCE=1):
    GET  /evidence/orders | /evidence/notifications | /evidence/fulfilments   JSON lines
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from paychaos_targets.walletpay import _db
from paychaos_targets.walletpay._config import Settings
from paychaos_targets.walletpay._serve import json_lines, reply, serve

log = logging.getLogger("walletpay.api")

CUSTOMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_AMOUNT = 100_000_000
OPEN = ("queued", "processing")
JSON = "application/json"
MAX_WAIT = 10.0  # seconds a GET may wait for a charge to be final
WAIT_POLL = 0.1


@dataclass
class State:
    pool: asyncpg.Pool | None = None  # set once the database answers and the tables exist


STATE: web.AppKey[State] = web.AppKey("state", State)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def charge_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": row["status"],
        "customer": row["customer"],
        "amount_cents": row["amount_cents"],
        "reference": row["reference"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _pool(request: web.Request) -> asyncpg.Pool:
    pool = request.app[STATE].pool
    if pool is None:
        raise web.HTTPServiceUnavailable(text='{"error":"database not ready"}', content_type=JSON)
    return pool


@web.middleware
async def database_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A database that went away is a 503: the client may retry under the same key."""
    try:
        return await handler(request)
    except _db.TRANSIENT as exc:
        log.warning("%s %s: database unavailable: %r", request.method, request.path, exc)
        return reply(503, {"error": "database unavailable"})


async def healthz(request: web.Request) -> web.Response:
    if request.app[STATE].pool is None:
        return reply(503, {"ok": False, "error": "database not ready"})
    return reply(200, {"ok": True})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error":"the body is not JSON"}', content_type=JSON) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error":"the body is not an object"}', content_type=JSON)
    return body


async def _ensure_wallet(conn: _db.Conn, customer: str, initial: int) -> None:
    """A customer's wallet exists from their first charge, funded unless the name starts with empty-."""
    account = _db.wallet(customer)
    created = await conn.fetchval(
        "INSERT INTO accounts (id, kind) VALUES ($1, 'wallet') ON CONFLICT DO NOTHING RETURNING id", account
    )
    if created is None or initial <= 0 or customer.startswith("empty-"):
        return
    await _db.lock_accounts(conn, [account, _db.FUNDING])
    txn = await conn.fetchval(
        "INSERT INTO ledger_txns (key, kind, account, amount, status) "
        "VALUES ($1, 'topup', $2, $3, 'posted') RETURNING id",
        f"topup:{account}",
        account,
        initial,
    )
    await _db.post(conn, txn, [(_db.FUNDING, -initial), (account, initial)])


async def create_charge(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 200:
        return reply(400, {"error": "an Idempotency-Key header is required"})
    body = await _body(request)
    customer, amount, reference = body.get("customer"), body.get("amount_cents"), body.get("reference")
    if not isinstance(customer, str) or not CUSTOMER.match(customer):
        return reply(400, {"error": "customer: letters, digits, _ . - (at most 64)"})
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        return reply(400, {"error": f"amount_cents: a whole number of cents, 1 to {MAX_AMOUNT}"})
    if not isinstance(reference, str) or not 0 < len(reference) <= 128:
        return reply(400, {"error": "reference: the merchant's order reference, 1 to 128 characters"})
    fingerprint = f"{customer}\x1f{amount}\x1f{reference}"
    settings = request.app[SETTINGS]
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM charges WHERE idempotency_key = $1", key)
        if row is None:
            async with conn.transaction():
                await _ensure_wallet(conn, customer, settings.initial_balance)
                row = await conn.fetchrow(
                    "INSERT INTO charges (id, idempotency_key, fingerprint, customer, amount_cents, "
                    "reference, status) VALUES ($1, $2, $3, $4, $5, $6, 'queued') "
                    "ON CONFLICT DO NOTHING RETURNING *",
                    f"ch_{secrets.token_hex(10)}",
                    key,
                    fingerprint,
                    customer,
                    amount,
                    reference,
                )
            if row is None:  # a concurrent request under this key, or another key for this reference
                row = await conn.fetchrow("SELECT * FROM charges WHERE idempotency_key = $1", key)
                if row is None:
                    return reply(409, {"error": f"reference {reference!r} already has a charge"})
    if row["fingerprint"] != fingerprint:
        return reply(409, {"error": "this Idempotency-Key was used for another charge"})
    return reply(202, {"charge": charge_json(row)})


async def get_charge(request: web.Request) -> web.Response:
    """The charge; with ``?wait=SECONDS`` (at most 10) answer once it is final or that time is up."""
    try:
        wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT)
    except ValueError:
        return reply(400, {"error": f"wait: seconds, 0 to {MAX_WAIT:g}"})
    pool = _pool(request)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        row = await pool.fetchrow("SELECT * FROM charges WHERE id = $1", request.match_info["id"])
        if row is None:
            return reply(404, {"error": "no such charge"})
        if row["status"] not in OPEN or asyncio.get_running_loop().time() >= deadline:
            return reply(200, {"charge": charge_json(row)})
        await asyncio.sleep(WAIT_POLL)


async def refund_charge(request: web.Request) -> web.Response:
    """Refund a captured charge in full: one refund per charge, so a retry answers the same refund."""
    charge_id = request.match_info["id"]
    async with _pool(request).acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", charge_id)
        if row is None:
            return reply(404, {"error": "no such charge"})
        status = row["status"]
        if status in OPEN:
            return reply(409, {"error": "the charge is not captured yet", "charge": charge_json(row)})
        if status == "declined":
            return reply(422, {"error": "a declined charge is not refundable", "charge": charge_json(row)})
        if status == "captured":
            account = _db.wallet(row["customer"])
            await _db.lock_accounts(conn, [account, _db.MERCHANT])
            txn = await conn.fetchval(
                "INSERT INTO ledger_txns (key, kind, charge_id, reference, account, amount, status, "
                "reverses) VALUES ($1, 'refund', $2, $3, $4, $5, 'posted', $6) RETURNING id",
                f"refund:{charge_id}",
                charge_id,
                row["reference"],
                account,
                row["amount_cents"],
                row["capture_txn"],
            )
            await _db.post(conn, txn, [(_db.MERCHANT, -row["amount_cents"]), (account, row["amount_cents"])])
            row = await conn.fetchrow(
                "UPDATE charges SET status = 'refunded', refund_txn = $2, updated_at = now() "
                "WHERE id = $1 RETURNING *",
                charge_id,
                txn,
            )
            assert row is not None
    return reply(200, {"charge": charge_json(row), "refund": {"id": str(row["refund_txn"])}})


async def charge_result(request: web.Request) -> web.Response:
    """The worker's report of a capture: mark the charge, record the report, fulfil the order once."""
    settings = request.app[SETTINGS]
    given = request.headers.get("X-Walletpay-Token", "")
    if settings.token and not hmac.compare_digest(given.encode(), settings.token.encode()):
        return reply(401, {"error": "bad token"})
    body = await _body(request)
    event_id, outcome, txn_id = body.get("event_id"), body.get("outcome"), body.get("txn_id")
    valid = isinstance(event_id, str) and outcome in ("captured", "declined") and isinstance(txn_id, int)
    if not valid:
        return reply(400, {"error": "expected {event_id, outcome: captured|declined, txn_id}"})
    charge_id = request.match_info["id"]
    async with _pool(request).acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM charges WHERE id = $1 FOR UPDATE", charge_id)
        if row is None:
            return reply(404, {"error": "no such charge"})
        txn = await conn.fetchrow(
            "SELECT status FROM ledger_txns WHERE id = $1 AND charge_id = $2 AND kind = 'capture'",
            txn_id,
            charge_id,
        )
        if txn is None or (txn["status"] == "posted") != (outcome == "captured"):
            return reply(422, {"error": "the ledger holds no such capture"})
        first = not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM result_reports WHERE event_id = $1)", event_id
        )
        await conn.execute(
            "INSERT INTO result_reports (event_id, charge_id, reference, outcome, first) "
            "VALUES ($1, $2, $3, $4, $5)",
            event_id,
            charge_id,
            row["reference"],
            outcome,
            first,
        )
        fulfil = False
        if row["status"] in OPEN:
            row = await conn.fetchrow(
                "UPDATE charges SET status = $2, capture_txn = $3, claimed_by = NULL, lease_until = NULL, "
                "updated_at = now() WHERE id = $1 RETURNING *",
                charge_id,
                outcome,
                txn_id,
            )
            assert row is not None
            fulfil = outcome == "captured"
        elif outcome == "captured" and settings.defect("fulfil-every-report"):
            fulfil = True  # DEFECT: the fulfilment hook runs on every report, not on the transition
        if fulfil:
            await conn.execute(
                "INSERT INTO fulfilments (charge_id, reference) VALUES ($1, $2)", charge_id, row["reference"]
            )
    return reply(200, {"charge": charge_json(row), "first": first})


EVIDENCE = {
    "orders": """
        SELECT reference AS order_id, 'wallet:' || customer AS account, amount_cents AS amount,
               id AS payment_id, status AS state,
               CASE status WHEN 'captured' THEN 'paid' WHEN 'declined' THEN 'failed'
                           WHEN 'refunded' THEN 'refunded' ELSE 'pending' END AS outcome,
               status NOT IN ('queued', 'processing') AS terminal, created_at, updated_at
        FROM charges ORDER BY created_at, id""",
    "notifications": """
        SELECT event_id, reference AS order_id, charge_id AS payment_id,
               CASE outcome WHEN 'captured' THEN 'succeeded' ELSE 'failed' END AS outcome,
               first, received_at
        FROM result_reports ORDER BY id""",
    "fulfilments": "SELECT reference AS order_id, at FROM fulfilments ORDER BY id",
}


async def evidence(request: web.Request) -> web.Response:
    query = EVIDENCE.get(request.match_info["table"])
    if query is None:
        return reply(404, {"error": f"no evidence table; known: {sorted(EVIDENCE)}"})
    rows = await _pool(request).fetch(query)
    return json_lines([dict(r) for r in rows])


def make_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[database_errors])
    app[SETTINGS] = settings
    app[STATE] = State()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/v1/charges", create_charge)
    app.router.add_get("/v1/charges/{id}", get_charge)
    app.router.add_post("/v1/charges/{id}/refunds", refund_charge)
    app.router.add_post("/internal/charges/{id}/result", charge_result)
    if settings.evidence:
        app.router.add_get("/evidence/{table}", evidence)
    return app


async def run(settings: Settings, stop: asyncio.Event) -> None:
    app = make_app(settings)
    server = asyncio.create_task(serve(app, settings.host, settings.port, stop))
    pool: asyncpg.Pool | None = None
    try:
        connecting = asyncio.create_task(_db.connect(settings.db, max_size=10, stop=stop))
        done, _ = await asyncio.wait({connecting, server}, return_when=asyncio.FIRST_COMPLETED)
        if connecting in done:
            pool = connecting.result()
            app[STATE].pool = pool
            log.info("ready; defects: %s", ",".join(sorted(settings.defects)) or "none")
        else:
            connecting.cancel()
        await server
    finally:
        if pool is not None:
            await pool.close()
