"""reconciler: every pass, ask the gateway what is unresolved and the bank what really happened.

Payment PENDING/UNKNOWN → the bank has the debit: SUCCEEDED (or, past the
payment's deadline, refunded and FAILED); the bank never saw it: the key is voided first,
so a late copy cannot land, then FAILED. REFUNDING → the refund is (re)issued
under its own key until the bank has it. Payout PENDING/UNKNOWN → paid if any
channel has it, otherwise cancelled at both channels and FAILED.

The ``no-reconciler`` defect keeps the service up (it answers health checks)
but never runs a pass.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paychaos_targets.paystack._http import CallFailed
from paychaos_targets.paystack._web import Service, Settings
from paychaos_targets.paystack.bank.client import debit_key, refund, settle_key

log = logging.getLogger("paystack.reconciler")


@dataclass(frozen=True)
class ReconcilerSettings(Settings):
    gateway_url: str
    bank_url: str
    interval: float
    grace: float
    timeout: float
    concurrency: int

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--gateway-url", required=True)
        parser.add_argument("--bank-url", required=True)
        parser.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
        parser.add_argument(
            "--grace",
            type=float,
            default=3.0,
            help="leave payments alone until they are this many seconds old",
        )
        parser.add_argument("--timeout", type=float, default=2.0, help="seconds per call")
        parser.add_argument("--concurrency", type=int, default=16)  # fmt: skip


class Reconciler(Service):
    name = "reconciler"
    evidence = ("passes", "actions")
    settings: ReconcilerSettings

    def background(self) -> list[Callable[[], Awaitable[None]]]:
        if "no-reconciler" in self.defects:
            log.warning("defect no-reconciler: unknown payments will never be resolved")
            return []
        return [self._loop]

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except CallFailed as exc:
                log.warning("pass skipped: %s", exc)
            await asyncio.sleep(self.settings.interval)

    async def reconcile_once(self) -> int:
        """One pass; returns how many payments and payouts it resolved."""
        s = self.settings
        started = datetime.now().astimezone()
        reply = await self.http.call(
            "GET",
            f"{s.gateway_url}/internal/unresolved?older_than={s.grace}&limit=500",
            timeout=s.timeout,
        )
        if not reply.ok:
            raise CallFailed("connection", s.gateway_url, f"gateway answered {reply.status}")
        work = [self._payment(p) for p in reply.body["payments"]]
        work += [self._payout(p) for p in reply.body["payouts"]]
        limit = asyncio.Semaphore(s.concurrency)

        async def bounded(job: Awaitable[bool]) -> bool:
            async with limit:
                return await job

        results = await asyncio.gather(*(bounded(w) for w in work), return_exceptions=True)
        resolved = sum(1 for r in results if r is True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for exc in errors[:3]:
            log.warning("could not resolve: %s", exc)
        await self.pool.execute(
            "INSERT INTO passes (started_at, examined, resolved, errors) VALUES ($1, $2, $3, $4)",
            started, len(work), resolved, len(errors),
        )  # fmt: skip
        return resolved

    async def _payment(self, payment: dict[str, Any]) -> bool:
        pid, bank = payment["id"], self.settings.bank_url
        if payment["state"] == "REFUNDING":
            return await self._refund(payment, "refund in flight", "refunded")
        status, txn = await settle_key(
            self.http,
            status_url=f"{bank}/transactions/{debit_key(pid)}",
            void_url=f"{bank}/transactions/{debit_key(pid)}/void",
            timeout=self.settings.timeout,
        )
        if status != "posted":
            return await self._resolve(payment, f"bank: {status}", "not_debited")
        expired = datetime.fromisoformat(payment["expires_at"]) < datetime.now().astimezone()
        if expired:
            return await self._refund(payment, "debited after the payment expired; refunded", "expired")
        return await self._resolve(payment, "bank: posted", "debited", bank_txn=str(txn.get("id")))

    async def _refund(self, payment: dict[str, Any], finding: str, outcome: str) -> bool:
        reply = await refund(self.http, self.settings.bank_url, payment, timeout=self.settings.timeout)
        # 404: nothing was debited; 409: already refunded. Either way no money is held.
        if not (reply.ok or reply.status in (404, 409)):
            raise CallFailed("connection", self.settings.bank_url, f"refund answered {reply.status}")
        return await self._resolve(payment, finding, outcome)

    async def _resolve(self, payment: dict[str, Any], finding: str, outcome: str, **extra: str) -> bool:
        reply = await self.http.call(
            "POST", f"{self.settings.gateway_url}/internal/payments/{payment['id']}/resolve",
            json={"outcome": outcome, "reason": finding, **extra}, timeout=self.settings.timeout,
        )  # fmt: skip
        moved = bool(reply.ok and reply.body.get("moved"))
        await self._log("payment", payment, finding, outcome if moved else f"{outcome} (already moved)")
        return moved

    async def _payout(self, payout: dict[str, Any]) -> bool:
        """Paid if any channel has it; otherwise cancelled at both, then failed."""
        pid, bank = payout["id"], self.settings.bank_url
        findings: dict[str, str] = {}
        for channel in ("a", "b"):
            findings[channel], _ = await settle_key(
                self.http,
                status_url=f"{bank}/channels/{channel}/payouts/{pid}",
                void_url=f"{bank}/channels/{channel}/payouts/{pid}/cancel",
                timeout=self.settings.timeout,
            )
        paid = [c for c, status in findings.items() if status == "posted"]
        outcome, channel = ("paid", paid[0]) if paid else ("failed", payout["channel"] or "a")
        finding = ", ".join(f"{c}: {s}" for c, s in findings.items())
        reply = await self.http.call(
            "POST", f"{self.settings.gateway_url}/internal/payouts/{pid}/resolve",
            json={"outcome": outcome, "channel": channel, "reason": finding}, timeout=self.settings.timeout,
        )  # fmt: skip
        await self._log("payout", payout, finding, outcome)
        return reply.ok

    async def _log(self, subject: str, item: dict[str, Any], finding: str, action: str) -> None:
        await self.pool.execute(
            """INSERT INTO actions (subject, subject_id, seen_state, finding, action)
               VALUES ($1, $2::text::uuid, $3, $4, $5)""",
            subject, str(item["id"]), item["state"], finding, action,
        )  # fmt: skip
