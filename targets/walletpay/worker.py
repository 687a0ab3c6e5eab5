"""walletpay's capture worker.

It claims queued charges from PostgreSQL under a lease (``FOR UPDATE SKIP LOCKED``), captures each
one in a single transaction — the wallet debited, the merchant credited, the ledger transaction
and its postings written, and a result report put in the worker's outbox — and then reports the
result to the API (``POST /internal/charges/{id}/result``) until the API takes it.

What makes it safe to retry: a capture is keyed ``capture:<charge>`` and a second attempt finds
the first; a charge whose worker died is claimed again once its lease runs out; an outbox entry
the API never acknowledged is sent again by the relay. ``GET /healthz`` answers once the database
does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from paychaos_targets.walletpay import _db
from paychaos_targets.walletpay._config import Settings
from paychaos_targets.walletpay._serve import reply, serve

log = logging.getLogger("walletpay.worker")

IDLE_POLL = 0.05  # seconds between claims when the queue is empty
RELAY_EVERY = 1.0  # seconds between looks at the outbox
RELAY_AFTER = 3.0  # an unacknowledged report untouched this long is sent again
RETRY_CAPTURE: tuple[type[BaseException], ...] = (*_db.TRANSIENT, asyncpg.UniqueViolationError)


@dataclass(frozen=True)
class Result:
    event_id: str
    charge_id: str
    outcome: str  # captured | declined
    txn_id: int

    def body(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "outcome": self.outcome, "txn_id": self.txn_id}


class Worker:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, http: aiohttp.ClientSession):
        self.settings = settings
        self.pool = pool
        self.http = http
        self.name = f"worker-{secrets.token_hex(4)}"
        self.active: set[str] = set()  # charges this process holds (working on, or next in line)
        self.slots = asyncio.Semaphore(settings.concurrency)  # charges worked on at once
        self.prefetch = 2 * settings.concurrency  # charges held at once: claimed ahead of a free slot
        self.tasks: set[asyncio.Task[None]] = set()

    # --- claiming -----------------------------------------------------------------------

    async def claim(self, limit: int) -> list[asyncpg.Record]:
        if self.settings.defect("lost-claim"):
            claimable = "status = 'queued'"  # DEFECT: a claim is never taken back from a dead worker
        else:
            claimable = "status = 'queued' OR (status = 'processing' AND lease_until < now())"
        return await self.pool.fetch(
            f"""
            UPDATE charges c
            SET status = 'processing', claimed_by = $1, attempts = c.attempts + 1, updated_at = now(),
                lease_until = now() + make_interval(secs => $2)
            FROM (SELECT id FROM charges
                  WHERE status IN ('queued', 'processing') AND ({claimable})
                  ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED) s
            WHERE c.id = s.id
            RETURNING c.id, c.customer, c.amount_cents, c.reference, c.attempts
            """,
            self.name,
            self.settings.lease_seconds,
            limit,
        )

    async def renew(self, charge_id: str) -> None:
        try:
            await self.pool.execute(
                "UPDATE charges SET lease_until = now() + make_interval(secs => $3) "
                "WHERE id = $1 AND claimed_by = $2 AND status = 'processing'",
                charge_id,
                self.name,
                self.settings.lease_seconds,
            )
        except _db.TRANSIENT as exc:
            log.warning("could not renew the lease of %s: %r", charge_id, exc)

    # --- capturing ----------------------------------------------------------------------

    async def capture(self, charge: asyncpg.Record, key: str, *, look_first: bool) -> Result:
        """Debit the wallet, credit the merchant (or decline) and fill the outbox, in one transaction."""
        charge_id = charge["id"]
        account = _db.wallet(charge["customer"])
        amount = charge["amount_cents"]
        event_id = f"result:{charge_id}"
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1 FROM charges WHERE id = $1 FOR UPDATE", charge_id)
            done = None
            if look_first:  # the capture this charge already has, by any worker
                done = await conn.fetchrow(
                    "SELECT id, status FROM ledger_txns WHERE key = $1", f"capture:{charge_id}"
                )
            if done is not None:
                txn_id, status = done["id"], done["status"]
            else:
                balances = await _db.lock_accounts(conn, [account, _db.MERCHANT])
                status = "posted" if balances.get(account, 0) >= amount else "declined"
                txn_id = await conn.fetchval(
                    "INSERT INTO ledger_txns (key, kind, charge_id, reference, account, amount, status) "
                    "VALUES ($1, 'capture', $2, $3, $4, $5, $6) RETURNING id",
                    key,
                    charge_id,
                    charge["reference"],
                    account,
                    amount,
                    status,
                )
                if status == "posted":
                    await _db.post(conn, txn_id, [(account, -amount), (_db.MERCHANT, amount)])
            outcome = "captured" if status == "posted" else "declined"
            await conn.execute(
                """
                INSERT INTO worker_outbox (event_id, charge_id, reference, outcome, txn_id)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (event_id) DO UPDATE
                SET outcome = excluded.outcome, txn_id = excluded.txn_id, updated_at = now()
                WHERE worker_outbox.txn_id <> excluded.txn_id
                """,
                event_id,
                charge_id,
                charge["reference"],
                outcome,
                txn_id,
            )
        return Result(event_id, charge_id, outcome, txn_id)

    async def capture_retrying(self, charge: asyncpg.Record, key: str, *, look_first: bool) -> Result:
        pause = 0.1
        while True:
            try:
                return await self.capture(charge, key, look_first=look_first)
            except RETRY_CAPTURE as exc:
                log.warning("capture of %s failed (%r); retrying", charge["id"], exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    # --- reporting ----------------------------------------------------------------------

    async def send(self, result: Result) -> tuple[bool, bool, str | None]:
        """One report to the API: (taken, refused for good, the error)."""
        url = f"{self.settings.api_url}/internal/charges/{result.charge_id}/result"
        try:
            async with self.http.post(
                url,
                json=result.body(),
                headers={"X-Walletpay-Token": self.settings.token},
                timeout=aiohttp.ClientTimeout(total=self.settings.report_timeout),
            ) as answer:
                text = await answer.text()
                if answer.status < 300:
                    return True, False, None
                return False, answer.status < 500, f"HTTP {answer.status}: {text[:200]}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return False, False, repr(exc) or type(exc).__name__

    async def note(self, result: Result, taken: bool, error: str | None) -> None:
        try:
            await self.pool.execute(
                "UPDATE worker_outbox SET attempts = attempts + 1, acknowledged = acknowledged OR $2, "
                "last_error = $3, updated_at = now() WHERE event_id = $1",
                result.event_id,
                taken,
                error,
            )
        except _db.TRANSIENT as exc:  # the relay sends it again: the API takes a report twice safely
            log.warning("could not record the report of %s: %r", result.charge_id, exc)

    async def report(self, result: Result) -> bool:
        """Send one report and record the attempt; True once the API has it (or refused it for good)."""
        taken, refused, error = await self.send(result)
        await self.note(result, taken, error)
        if refused:
            log.error("the API refused the result of %s: %s", result.charge_id, error)
        elif not taken:
            log.info("result of %s not taken (%s); will retry", result.charge_id, error)
        return taken or refused

    async def deliver(self, result: Result) -> None:
        pause = 0.1
        while not await self.report(result):
            await self.renew(result.charge_id)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    # --- one charge -----------------------------------------------------------------------

    async def process(self, charge: asyncpg.Record) -> None:
        charge_id = charge["id"]
        try:
            async with self.slots:
                await self._process(charge)
        except Exception:
            log.exception("processing %s failed; its lease runs out and it is claimed again", charge_id)
        finally:
            self.active.discard(charge_id)

    async def _process(self, charge: asyncpg.Record) -> None:
        charge_id = charge["id"]
        if charge["attempts"] > 1:
            log.info("%s claimed again (attempt %d)", charge_id, charge["attempts"])
        if not self.settings.defect("double-capture"):
            result = await self.capture_retrying(charge, f"capture:{charge_id}", look_first=True)
            await self.deliver(result)
            return
        # DEFECT: a report that gets no answer is taken as a failed capture, and the whole
        # capture runs again under a fresh key, without looking for the one already made.
        pause = 0.1
        while True:
            key = f"capture:{charge_id}:{secrets.token_hex(3)}"
            result = await self.capture_retrying(charge, key, look_first=False)
            if await self.report(result):
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    def spawn(self, charge_id: str, work: Any) -> None:
        self.active.add(charge_id)
        task: asyncio.Task[None] = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def dispatch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            free = self.prefetch - len(self.tasks)
            if free <= 0:
                await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                claimed = await self.claim(free)
            except _db.TRANSIENT as exc:
                log.warning("claim failed: %r", exc)
                await asyncio.sleep(0.2)
                continue
            for charge in claimed:
                if charge["id"] not in self.active:  # its lease ran out while this process still works on it
                    self.spawn(charge["id"], self.process(charge))
            if not claimed:
                await asyncio.sleep(IDLE_POLL)

    # --- the outbox relay -------------------------------------------------------------------

    async def relay(self, stop: asyncio.Event) -> None:
        """Send again what the API never acknowledged (e.g. the worker died between answer and note)."""
        while not stop.is_set():
            await asyncio.sleep(RELAY_EVERY)
            try:
                rows = await self.pool.fetch(
                    "SELECT event_id, charge_id, outcome, txn_id FROM worker_outbox "
                    "WHERE NOT acknowledged AND updated_at < now() - make_interval(secs => $1) "
                    "ORDER BY updated_at LIMIT 100",
                    RELAY_AFTER,
                )
            except _db.TRANSIENT as exc:
                log.warning("relay: %r", exc)
                continue
            for row in rows:
                if row["charge_id"] not in self.active and len(self.tasks) < 2 * self.prefetch:
                    result = Result(row["event_id"], row["charge_id"], row["outcome"], row["txn_id"])
                    self.spawn(result.charge_id, self._relay_one(result))

    async def _relay_one(self, result: Result) -> None:
        try:
            await self.report(result)
        finally:
            self.active.discard(result.charge_id)


@dataclass
class Health:
    ready: bool = False


HEALTH: web.AppKey[Health] = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    if not request.app[HEALTH].ready:
        return reply(503, {"ok": False, "error": "database not ready"})
    return reply(200, {"ok": True})


async def run(settings: Settings, stop: asyncio.Event) -> None:
    app = web.Application()
    app[HEALTH] = Health()
    app.router.add_get("/healthz", healthz)
    server = asyncio.create_task(serve(app, settings.host, settings.port, stop))
    connecting = asyncio.create_task(_db.connect(settings.db, max_size=settings.concurrency + 4, stop=stop))
    done, _ = await asyncio.wait({connecting, server}, return_when=asyncio.FIRST_COMPLETED)
    if connecting not in done:
        connecting.cancel()
        await server
        return
    pool = connecting.result()
    try:
        async with aiohttp.ClientSession() as http:
            worker = Worker(settings, pool, http)
            app[HEALTH].ready = True
            log.info("%s ready; defects: %s", worker.name, ",".join(sorted(settings.defects)) or "none")
            loops = [asyncio.create_task(worker.dispatch(stop)), asyncio.create_task(worker.relay(stop))]
            await server
            for task in [*loops, *worker.tasks]:
                task.cancel()
            await asyncio.gather(*loops, *worker.tasks, return_exceptions=True)
    finally:
        await pool.close()
