"""Payouts over two channels, and the rule that keeps them from paying twice.

A payout instruction goes to channel A. If A times out, A may still have paid,
so the gateway asks A what happened before anything else: paid → done; never
heard of it → cancel the key at A (a late copy is then refused) and only then
try channel B. If A cannot be asked, the payout stays UNKNOWN for the
reconciler; it is never sent to B on a guess.

The ``failover-on-timeout`` defect skips the asking and sends to B at once:
the incident where channel A had paid and B paid again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from paychaos_targets.paystack._http import CallFailed, Http
from paychaos_targets.paystack.bank.client import settle_key

Outcome = Literal["paid", "declined", "unavailable", "unknown"]

_COLUMNS = "id, key, account, amount, payee, state, channel, failure_reason, created_at, updated_at"


@dataclass(frozen=True)
class Channels:
    urls: dict[str, str]  # "a" -> base URL of channel A's payout API
    timeout: float


class Payouts:
    def __init__(self, pool: asyncpg.Pool, http: Http, channels: Channels, *, failover_on_timeout: bool):
        self._pool = pool
        self._http = http
        self._channels = channels
        self._failover_on_timeout = failover_on_timeout

    async def create(
        self, key: str, fingerprint: str, account: str, amount: int, payee: str
    ) -> tuple[dict[str, Any], bool]:
        row = await self._pool.fetchrow(
            f"""INSERT INTO payouts (id, key, request_hash, account, amount, payee, state)
                VALUES ($1, $2, $3, $4, $5, $6, 'PENDING')
                ON CONFLICT (key) DO NOTHING RETURNING {_COLUMNS}""",
            uuid.uuid4(), key, fingerprint, account, amount, payee,
        )  # fmt: skip
        if row is not None:
            return dict(row), True
        existing = await self._pool.fetchrow(
            f"SELECT {_COLUMNS}, request_hash FROM payouts WHERE key = $1", key
        )
        assert existing is not None
        payout = dict(existing)
        if payout.pop("request_hash") != fingerprint:
            raise ValueError("Idempotency-Key already used with a different payout")
        return payout, False

    async def execute(self, payout: dict[str, Any]) -> dict[str, Any]:
        """Pay ``payout`` through A, falling back to B only when A certainly did not pay."""
        channel = "a"
        outcome = await self._send(payout, channel)
        if outcome == "unknown":
            if self._failover_on_timeout:
                channel, outcome = "b", await self._send(payout, "b")
            else:
                outcome = await self.settle(payout, channel)
        if outcome == "unavailable":
            channel, outcome = "b", await self._send(payout, "b")
            if outcome == "unknown":
                outcome = await self.settle(payout, channel)
        return await self._finish(payout["id"], outcome, channel)

    async def settle(self, payout: dict[str, Any], channel: str) -> Outcome:
        """Find out what ``channel`` did with the payout; cancel it there if it never arrived."""
        base, pid = self._channels.urls[channel], payout["id"]
        try:
            status, _ = await settle_key(
                self._http,
                status_url=f"{base}/payouts/{pid}",
                void_url=f"{base}/payouts/{pid}/cancel",
                timeout=self._channels.timeout,
            )
        except CallFailed as exc:
            await self._log(pid, channel, "settle", exc.kind)
            return "unknown"
        # voided: cancelled at this channel, a late copy will be refused, so B is safe.
        outcomes: dict[str, Outcome] = {"posted": "paid", "declined": "declined", "voided": "unavailable"}
        outcome = outcomes[status]
        await self._log(pid, channel, "settle", outcome)
        return outcome

    async def _send(self, payout: dict[str, Any], channel: str) -> Outcome:
        body = {
            "key": str(payout["id"]),
            "account": payout["account"],
            "amount": payout["amount"],
            "payee": payout["payee"],
            "reference": str(payout["id"]),
        }
        url = f"{self._channels.urls[channel]}/payouts"
        outcome: Outcome
        try:
            reply = await self._http.call("POST", url, json=body, timeout=self._channels.timeout)
        except CallFailed as exc:
            await self._log(payout["id"], channel, "send", exc.kind)
            return "unknown"
        if reply.ok:
            outcome = "paid"
        elif reply.status >= 500:
            # Even a 503 may come after the channel committed (its database answer was lost on the
            # way back): only asking the channel tells "not paid" from "paid".
            outcome = "unknown"
        else:
            outcome = "declined"
        await self._log(payout["id"], channel, "send", f"{outcome} ({reply.status})")
        return outcome

    async def _finish(self, payout_id: uuid.UUID, outcome: Outcome, channel: str) -> dict[str, Any]:
        state = {
            "paid": "PAID",
            "declined": "FAILED",
            "unavailable": "FAILED",
            "unknown": "UNKNOWN",
        }[outcome]
        return await self.resolve(payout_id, state, channel, None if state != "FAILED" else outcome)

    async def resolve(
        self, payout_id: uuid.UUID, state: str, channel: str, reason: str | None
    ) -> dict[str, Any]:
        """Move an unresolved payout to ``state``; a resolved one is returned as it is."""
        row = await self._pool.fetchrow(
            f"""UPDATE payouts SET state = $2, channel = $3, failure_reason = $4,
                    updated_at = clock_timestamp()
                WHERE id = $1 AND state IN ('PENDING', 'UNKNOWN') RETURNING {_COLUMNS}""",
            payout_id, state, channel, reason,
        )  # fmt: skip
        if row is None:
            row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM payouts WHERE id = $1", payout_id)
        assert row is not None
        return dict(row)

    async def unresolved(self, older_than: float, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"""SELECT {_COLUMNS} FROM payouts
                WHERE state IN ('PENDING', 'UNKNOWN')
                  AND updated_at < clock_timestamp() - make_interval(secs => $1)
                ORDER BY updated_at LIMIT $2""",
            older_than, limit,
        )  # fmt: skip
        return [dict(r) for r in rows]

    async def _log(self, payout_id: uuid.UUID, channel: str, action: str, outcome: str) -> None:
        await self._pool.execute(
            "INSERT INTO payout_attempts (payout_id, channel, action, outcome) VALUES ($1, $2, $3, $4)",
            payout_id, channel, action, outcome,
        )  # fmt: skip
