"""Paying orders through the gateway: a bounded set of jobs, each retried until acknowledged.

Capacity is ``workers + queue_size`` jobs. A checkout that would exceed it is
refused with 503 *before* the order is written, and an accepted order is in
the database before it is acknowledged. A job keeps retrying (same
Idempotency-Key, capped backoff) until the gateway acknowledges the payment.
Whatever loses a job — the process dying, a database answer cut off between
writing the order and starting its job — is covered by the sweeper
(:meth:`Payer.sweep`), which resumes every accepted order whose payment was
never acknowledged; resuming is safe because the key is the order's.

Two defects live here. ``drop-on-overload`` accepts every order into memory
only (the job writes it when it starts) and silently drops the job when the
queue is full: the order vanishes. ``retry-new-key`` sends each retry with a
fresh key, so a payment that timed out but went through is made again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from paychaos_targets.paystack._http import CallFailed, Http
from paychaos_targets.paystack.merchant import orders

log = logging.getLogger("paystack.merchant")


@dataclass(frozen=True)
class PayerConfig:
    gateway_url: str
    timeout: float
    workers: int
    queue_size: int
    backoff_max: float
    drop_on_overload: bool
    new_key_per_retry: bool
    sweep_every: float = 2.0


Job = asyncio.Future[dict[str, Any]]


class Payer:
    def __init__(self, pool: asyncpg.Pool, http: Http, config: PayerConfig) -> None:
        self._pool = pool
        self._http = http
        self._config = config
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._jobs: dict[str, Job] = {}
        self._load = 0  # jobs accepted and not finished

    @property
    def capacity(self) -> int:
        return self._config.workers + self._config.queue_size

    def admit(self) -> bool:
        """Reserve capacity for one order; False means refuse it (503) before writing anything.

        Reserving before the order is written (no await in between) keeps two
        concurrent checkouts from both taking the last slot.
        """
        if self._config.drop_on_overload or self._load < self.capacity:
            self._load += 1
            return True
        return False

    def release(self) -> None:
        """Give back a reservation that did not become a job (the order was not created)."""
        self._load -= 1

    def submit(self, order: dict[str, Any], *, reserved: bool) -> Job | None:
        """Start (or join) the job paying ``order``; None if the job was dropped.

        The job's result is ``{"order": …, "payment": …}`` once the gateway answered.
        """
        existing = self._jobs.get(order["id"])
        if existing is not None:
            if reserved:
                self._load -= 1
            return existing
        if not reserved:
            self._load += 1
        if self._config.drop_on_overload and self._load > self.capacity:
            self._load -= 1
            log.warning("queue full: dropping the payment of order %s", order["id"])
            return None
        job: Job = asyncio.get_running_loop().create_future()
        self._jobs[order["id"]] = job
        self._queue.put_nowait(order)
        return job

    async def recover(self, quiet_for: float = 0.0) -> int:
        """Resume accepted orders that have no job here and no acknowledged payment; return how many."""
        pending = [
            o for o in await orders.awaiting_payment(self._pool, quiet_for) if o["id"] not in self._jobs
        ]
        for order in pending:
            self.submit(order, reserved=False)
        if pending:
            log.info("resuming %d accepted orders whose payment was never acknowledged", len(pending))
        return len(pending)

    async def sweep(self) -> None:
        """Every few seconds, resume orders whose job was lost (quiet for a while, still unpaid),
        and ask again for refunds that were never confirmed."""
        while True:
            await asyncio.sleep(self._config.sweep_every)
            try:
                await self.recover(quiet_for=self._config.sweep_every * 2)
                await self.resume_refunds(quiet_for=self._config.sweep_every * 2)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("sweep skipped: %s", exc)

    async def resume_refunds(self, quiet_for: float) -> int:
        """Ask again for refunds the gateway never heard of: orders left REFUNDING whose payment the
        gateway still calls SUCCEEDED (the request was lost, or the shop stopped between marking the
        order and asking). A refund the gateway has is the gateway's to finish; the order moves on
        when its payment.refunded notification arrives."""
        pending = await orders.awaiting_refund(self._pool, quiet_for)
        for order in pending:
            url = f"{self._config.gateway_url}/payments/{order['payment_id']}"
            try:
                payment = await self._http.call("GET", url, timeout=self._config.timeout)
                if payment.ok and payment.body.get("state") == "SUCCEEDED":
                    await self._http.call("POST", f"{url}/refund", timeout=self._config.timeout)
            except CallFailed as exc:
                log.warning("refund of order %s still unconfirmed: %s", order["id"], exc)
            await orders.update(
                self._pool, order["id"], only_from=("REFUNDING",), last_error="refund asked again"
            )
        return len(pending)

    def workers(self) -> list[Callable[[], Awaitable[None]]]:
        jobs: list[Callable[[], Awaitable[None]]] = [self._work for _ in range(self._config.workers)]
        return [*jobs, self.sweep]

    async def _work(self) -> None:
        while True:
            order = await self._queue.get()
            job = self._jobs[order["id"]]
            try:
                job.set_result(await self._pay(order))
            except asyncio.CancelledError:
                job.cancel()
                raise
            except Exception as exc:
                log.exception("paying order %s failed", order["id"])
                job.set_exception(exc)
                job.exception()  # mark retrieved: the checkout may have stopped waiting
            finally:
                del self._jobs[order["id"]]
                self._load -= 1

    async def _pay(self, order: dict[str, Any]) -> dict[str, Any]:
        """Call the gateway until it acknowledges the payment; return the order and payment."""
        order_id = order["id"]
        if order.get("in_memory"):  # defect drop-on-overload: the order is written only now
            order, _ = await orders.create(
                self._pool, order_id, order["request_hash"], order["account"], order["amount"],
                order["promo_code"], "PAYING",
            )  # fmt: skip
        body = {
            "order_id": order_id,
            "account": order["account"],
            "amount": order["amount"],
            "promo_code": order["promo_code"],
        }
        attempt = 0
        while True:
            attempt += 1
            key = f"order:{order_id}"
            if self._config.new_key_per_retry:
                key = f"order:{order_id}:{uuid.uuid4().hex[:12]}"  # defect: a new payment each retry
            try:
                reply = await self._http.call(
                    "POST",
                    f"{self._config.gateway_url}/payments",
                    json=body,
                    headers={"Idempotency-Key": key},
                    timeout=self._config.timeout,
                )
            except CallFailed as exc:
                await self._note(order, key, error=str(exc))
                await asyncio.sleep(self._backoff(attempt))
                continue
            if reply.ok:
                payment = reply.body
                return {"order": await self._note(order, key, payment=payment), "payment": payment}
            if reply.status >= 500:
                await self._note(order, key, error=f"gateway {reply.status}")
                await asyncio.sleep(self._backoff(attempt))
                continue
            # The gateway refused the request itself (bad account, key conflict): final.
            reason = f"gateway refused: {reply.status} {(reply.body or {}).get('error')}"
            return {
                "order": await self._note(order, key, error=reason, final=True),
                "payment": None,
                "error": reason,
            }

    async def _note(self, order: dict[str, Any], key: str, **outcome: Any) -> dict[str, Any]:
        """Record an attempt on the order. If the database is briefly out of reach the job goes on:
        the payment itself is safe at the gateway, and its notification will settle the order."""
        try:
            return await orders.record_attempt(self._pool, order["id"], key, **outcome)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("could not record an attempt on order %s: %s", order["id"], exc)
            return order

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._config.backoff_max, 0.1 * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)
