"""notifier: fetch result events from the gateway's outbox, deliver them signed, retry until done.

Events are first stored here (and only then acknowledged to the gateway), so
none is lost if this process dies. Each due delivery is leased before it is
attempted, so a crash mid-attempt only delays it. A failed attempt is retried
after an exponential, jittered backoff, without limit: delivery is
at-least-once, and the merchant is expected to ignore duplicates.

The ``notify-fire-and-forget`` defect makes one attempt and gives up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from paychaos_targets.paystack import signing
from paychaos_targets.paystack._http import CallFailed
from paychaos_targets.paystack._web import Service, Settings

log = logging.getLogger("paystack.notifier")


@dataclass(frozen=True)
class NotifierSettings(Settings):
    gateway_url: str
    merchant_url: str
    poll_interval: float
    attempt_timeout: float
    backoff_base: float
    backoff_max: float
    concurrency: int

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--gateway-url", required=True, help="where the outbox is read from")
        parser.add_argument(
            "--merchant-url", required=True, help="notifications go to <url>/webhooks/payments"
        )
        parser.add_argument("--poll-interval", type=float, default=0.05, help="seconds between idle polls")
        parser.add_argument("--attempt-timeout", type=float, default=2.0, help="seconds per delivery attempt")
        parser.add_argument("--backoff-base", type=float, default=0.2, help="first retry after about this")
        parser.add_argument("--backoff-max", type=float, default=5.0, help="retries never wait longer")
        parser.add_argument("--concurrency", type=int, default=64, help="deliveries in flight")  # fmt: skip


class Notifier(Service):
    name = "notifier"
    evidence = ("deliveries", "delivery_attempts")
    settings: NotifierSettings

    def __init__(self, settings: NotifierSettings) -> None:
        super().__init__(settings)
        self.secret = signing.shared_secret()
        self.retry = "notify-fire-and-forget" not in self.defects
        self._due = asyncio.Event()
        self._attempts: set[asyncio.Task[None]] = set()  # deliveries in flight

    def background(self) -> list[Callable[[], Awaitable[None]]]:
        return [self._fetch, self._dispatch]

    async def _fetch(self) -> None:
        """Move events from the gateway's outbox into our deliveries table."""
        s = self.settings
        while True:
            try:
                reply = await self.http.call("GET", f"{s.gateway_url}/outbox?limit=500", timeout=5)
            except CallFailed as exc:
                log.warning("cannot read the outbox: %s", exc)
                await asyncio.sleep(0.5)
                continue
            events = reply.body.get("events", []) if reply.ok else []
            if events:
                await self._store(events)
                try:
                    await self.http.call(
                        "POST", f"{s.gateway_url}/outbox/ack",
                        json={"event_ids": [e["event_id"] for e in events]}, timeout=5,
                    )  # fmt: skip
                except CallFailed as exc:
                    log.warning("cannot acknowledge %d events (they will come again): %s", len(events), exc)
                self._due.set()
            if len(events) < 500:
                await asyncio.sleep(s.poll_interval)

    async def _store(self, events: list[dict[str, Any]]) -> None:
        await self.pool.execute(
            """INSERT INTO deliveries (event_id, type, order_id, payment_id, body)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::jsonb[])
               ON CONFLICT (event_id) DO NOTHING""",
            [uuid.UUID(e["event_id"]) for e in events], [e["type"] for e in events],
            [e["order_id"] for e in events], [uuid.UUID(e["payment_id"]) for e in events],
            [orjson.dumps({k: v for k, v in e.items() if k != "seq"}).decode() for e in events],
        )  # fmt: skip

    async def _dispatch(self) -> None:
        """Lease due deliveries and attempt each, never more than ``concurrency`` at once."""
        lease = timedelta(seconds=self.settings.attempt_timeout + 5)
        while True:
            free = self.settings.concurrency - len(self._attempts)
            rows = []
            if free:
                rows = await self.pool.fetch(
                    """UPDATE deliveries SET next_attempt_at = clock_timestamp() + $2::interval
                       WHERE event_id IN (
                           SELECT event_id FROM deliveries
                           WHERE state = 'PENDING' AND next_attempt_at <= clock_timestamp()
                           ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                       RETURNING event_id, body, attempts""",
                    free, lease,
                )  # fmt: skip
            for row in rows:
                task = asyncio.create_task(self._deliver(row["event_id"], row["body"], row["attempts"] + 1))
                self._attempts.add(task)
                task.add_done_callback(self._attempts.discard)
            if not rows:
                self._due.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), self.settings.poll_interval)

    async def _deliver(self, event_id: uuid.UUID, body: str, attempt: int) -> None:
        try:
            payload = body.encode()
            started = datetime.now().astimezone()
            try:
                reply = await self.http.call(
                    "POST", f"{self.settings.merchant_url}/webhooks/payments", data=payload,
                    headers={"Content-Type": "application/json",
                             signing.HEADER: signing.sign(payload, self.secret)},
                    timeout=self.settings.attempt_timeout,
                )  # fmt: skip
                outcome = "delivered" if reply.ok else f"status {reply.status}"
            except CallFailed as exc:
                outcome = exc.kind
            await self._record(event_id, attempt, outcome, started)
        except Exception:
            log.exception(
                "delivery of %s failed unexpectedly; its lease will expire and it is retried",
                event_id,
            )
        finally:
            # Freed slots are refilled on the dispatcher's next round (new events or the
            # poll interval), so under load one claim query serves many deliveries.
            current = asyncio.current_task()
            if current is not None:
                self._attempts.discard(current)

    async def _record(self, event_id: uuid.UUID, attempt: int, outcome: str, started: datetime) -> None:
        if outcome == "delivered":
            state, retry_in = "DELIVERED", 0.0
        elif self.retry:
            state, retry_in = "PENDING", self._backoff(attempt)
        else:
            state, retry_in = "FAILED", 0.0  # defect: one attempt, then silence
        await self.pool.execute(
            """WITH attempt AS (
                   INSERT INTO delivery_attempts (event_id, attempt, outcome, started_at)
                   VALUES ($1, $2, $3, $5))
               UPDATE deliveries SET state = $4, attempts = $2,
                   last_error = CASE WHEN $4 = 'DELIVERED' THEN last_error ELSE $3 END,
                   delivered_at = CASE WHEN $4 = 'DELIVERED' THEN clock_timestamp() END,
                   next_attempt_at = clock_timestamp() + $6::interval
               WHERE event_id = $1""",
            event_id, attempt, outcome, state, started, timedelta(seconds=retry_in),
        )  # fmt: skip

    def _backoff(self, attempt: int) -> float:
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)
