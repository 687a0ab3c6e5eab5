"""gateway's HTTP API.

Public:   POST /payments (Idempotency-Key), GET /payments/{id}, POST /payments/{id}/refund,
          POST /payouts (Idempotency-Key), GET /payouts/{id}
Notifier: GET /outbox, POST /outbox/ack
Reconciler: GET /internal/unresolved, POST /internal/payments/{id}/resolve,
          POST /internal/payouts/{id}/resolve
Admin:    GET/PUT /admin/promotion
"""

from __future__ import annotations

import argparse
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from paychaos_targets.paystack._http import CallFailed
from paychaos_targets.paystack._web import (
    JSON,
    BadRequest,
    Service,
    Settings,
    error,
    field,
    fingerprint,
    read_json,
)
from paychaos_targets.paystack.bank import client as bank
from paychaos_targets.paystack.gateway import payments
from paychaos_targets.paystack.gateway.payments import PaymentRequest
from paychaos_targets.paystack.gateway.payouts import Channels, Payouts
from paychaos_targets.paystack.gateway.pricing import Caps, Promotion, parse_promotion, price

log = logging.getLogger("paystack.gateway")


@dataclass(frozen=True)
class GatewaySettings(Settings):
    bank_url: str
    channel_a_url: str
    channel_b_url: str
    bank_timeout: float
    channel_timeout: float
    payment_ttl: float
    max_inflight: int
    promo_max_percent: float
    promo_max_amount: int

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--bank-url", required=True, help="bank API (debits, refunds, status)")
        parser.add_argument("--channel-a-url", required=True, help="payout channel A, e.g. <bank>/channels/a")
        parser.add_argument("--channel-b-url", required=True, help="payout channel B, e.g. <bank>/channels/b")
        parser.add_argument("--bank-timeout", type=float, default=1.0, help="seconds per bank call")
        parser.add_argument("--channel-timeout", type=float, default=1.0, help="seconds per channel call")
        parser.add_argument(
            "--payment-ttl",
            type=float,
            default=300.0,
            help="seconds after which an unresolved debit is refunded, not completed",
        )
        parser.add_argument(
            "--max-inflight",
            type=int,
            default=256,
            help="payments processed at once; beyond it: 503 + Retry-After",
        )
        parser.add_argument("--promo-max-percent", type=float, default=10.0)
        parser.add_argument("--promo-max-amount", type=int, default=5_000)  # fmt: skip


class Gateway(Service):
    name = "gateway"
    evidence = ("payments", "outbox", "payouts", "payout_attempts", "promotion_changes")
    settings: GatewaySettings

    def __init__(self, settings: GatewaySettings) -> None:
        super().__init__(settings)
        self.caps = Caps(Decimal(str(settings.promo_max_percent)), settings.promo_max_amount)
        self.promotion = Promotion(None, Decimal(0), "code")
        self.inflight = 0
        self._payouts: Payouts | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/payments", self.create_payment, methods=["POST"]),
            Route("/payments/{id}", self.get_payment),
            Route("/payments/{id}/refund", self.refund, methods=["POST"]),
            Route("/payouts", self.create_payout, methods=["POST"]),
            Route("/outbox", self.outbox),
            Route("/outbox/ack", self.ack, methods=["POST"]),
            Route("/internal/unresolved", self.unresolved),
            Route("/internal/payments/{id}/resolve", self.resolve_payment, methods=["POST"]),
            Route("/internal/payouts/{id}/resolve", self.resolve_payout, methods=["POST"]),
            Route("/admin/promotion", self.get_promotion),
            Route("/admin/promotion", self.put_promotion, methods=["PUT"]),
        ]

    async def started(self) -> None:
        row = await self.pool.fetchrow("SELECT code, percent, applies_to FROM promotion WHERE id = 1")
        assert row is not None
        self.promotion = Promotion(row["code"], row["percent"], row["applies_to"])
        s = self.settings
        self._payouts = Payouts(
            self.pool,
            self.http,
            Channels({"a": s.channel_a_url, "b": s.channel_b_url}, s.channel_timeout),
            failover_on_timeout="failover-on-timeout" in self.defects,
        )

    # -- payments ------------------------------------------------------------------
    async def create_payment(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise BadRequest("the Idempotency-Key header is required", 400)
        body = await read_json(request)
        req = PaymentRequest(
            order_id=field(body, "order_id", str),
            account=field(body, "account", str),
            amount=field(body, "amount", int, positive=True),
            currency=field(body, "currency", str, default="CNY"),
            promo_code=field(body, "promo_code", str, default=None),
        )
        if self.inflight >= self.settings.max_inflight:
            # Refuse before writing anything: the caller may retry with the same key.
            return error(503, "gateway at capacity; retry later")
        self.inflight += 1
        try:
            return await self._pay(key, req)
        finally:
            self.inflight -= 1

    async def _pay(self, key: str, req: PaymentRequest) -> Response:
        enforce = "uncapped-promo" not in self.defects
        quote = price(req.amount, req.promo_code, self.promotion, self.caps, enforce_caps=enforce)
        try:
            payment, created = await payments.create(
                self.pool, key, req, quote, self.caps, self.settings.payment_ttl
            )
        except payments.KeyReused as exc:
            return error(409, str(exc), payment=exc.existing)
        if not created:
            return JSON(payment, headers={"Idempotent-Replayed": "true"})
        if payment["charged"] == 0:
            moved = await payments.move(self.pool, payment["id"], source=("PENDING",), target="SUCCEEDED")
            return JSON(moved or payment, status_code=201)
        target, reason, bank_txn = await self._debit(payment)
        moved = await payments.move(
            self.pool,
            payment["id"],
            source=("PENDING",),
            target=target,
            reason=reason,
            bank_txn=bank_txn,
        )
        current = moved or await payments.get(self.pool, payment["id"])
        return JSON(current, status_code=201)

    async def _debit(self, payment: dict[str, Any]) -> tuple[str, str | None, str | None]:
        """Ask the bank to debit; return (state, failure reason, bank transaction id)."""
        body = {
            "key": bank.debit_key(payment["id"]),
            "account": payment["account"],
            "amount": payment["charged"],
            "reference": payment["order_id"],
        }
        try:
            reply = await self.http.call(
                "POST",
                f"{self.settings.bank_url}/debits",
                json=body,
                timeout=self.settings.bank_timeout,
            )
        except CallFailed as exc:
            if "timeout-as-failure" in self.defects:
                return "FAILED", f"bank {exc.kind}", None  # defect: the bank may well have debited
            return "UNKNOWN", f"bank {exc.kind}", None
        if reply.ok:
            return "SUCCEEDED", None, str(reply.body["id"])
        if reply.status >= 500:
            return "UNKNOWN", f"bank answered {reply.status}", None
        txn = (reply.body or {}).get("transaction") or {}
        reason = {402: "insufficient_funds", 404: "unknown_account"}.get(reply.status)
        if reply.status == 409 and txn.get("status") == "voided":
            reason = "voided"
        if reason is None:
            log.error("bank refused debit %s: %s %s", body["key"], reply.status, reply.body)
            return "UNKNOWN", f"bank answered {reply.status}", None
        return "FAILED", reason, None

    async def get_payment(self, request: Request) -> Response:
        payment = await payments.get(self.pool, _uuid(request.path_params["id"]))
        return JSON(payment) if payment else error(404, "no such payment")

    async def refund(self, request: Request) -> Response:
        payment_id = _uuid(request.path_params["id"])
        payment = await payments.get(self.pool, payment_id)
        if payment is None:
            return error(404, "no such payment")
        if payment["state"] == "REFUNDED":
            return JSON(payment)
        if payment["state"] not in ("SUCCEEDED", "REFUNDING"):
            return error(409, f"only a succeeded payment can be refunded; this one is {payment['state']}")
        await payments.move(self.pool, payment_id, source=("SUCCEEDED",), target="REFUNDING")
        try:
            reply = await bank.refund(
                self.http, self.settings.bank_url, payment, timeout=self.settings.bank_timeout
            )
        except CallFailed:
            # Stays REFUNDING: the reconciler finds out whether the refund landed.
            return JSON(await payments.get(self.pool, payment_id), status_code=202)
        if reply.ok or reply.status in (404, 409):
            # 404: nothing was debited (a zero charge); 409: already refunded.
            moved = await payments.move(self.pool, payment_id, source=("REFUNDING",), target="REFUNDED")
            return JSON(moved or await payments.get(self.pool, payment_id))
        return JSON(await payments.get(self.pool, payment_id), status_code=202)

    # -- payouts -------------------------------------------------------------------
    async def create_payout(self, request: Request) -> Response:
        assert self._payouts is not None
        key = request.headers.get("Idempotency-Key")
        if not key:
            raise BadRequest("the Idempotency-Key header is required", 400)
        body = await read_json(request)
        account = field(body, "account", str, default="merchant")
        amount = field(body, "amount", int, positive=True)
        payee = field(body, "payee", str)
        digest = fingerprint(account=account, amount=amount, payee=payee)
        try:
            payout, created = await self._payouts.create(key, digest, account, amount, payee)
        except ValueError as exc:
            return error(409, str(exc))
        if not created:
            return JSON(payout, headers={"Idempotent-Replayed": "true"})
        return JSON(await self._payouts.execute(payout), status_code=201)

    # -- notifier's feed -------------------------------------------------------------
    async def outbox(self, request: Request) -> Response:
        limit = min(int(request.query_params.get("limit", "500")), 5000)
        return JSON({"events": await payments.pending_events(self.pool, limit)})

    async def ack(self, request: Request) -> Response:
        ids = [_uuid(i) for i in field(await read_json(request), "event_ids", list)]
        return JSON({"acked": await payments.ack_events(self.pool, ids)})

    # -- reconciler -------------------------------------------------------------------
    async def unresolved(self, request: Request) -> Response:
        assert self._payouts is not None
        older_than = float(request.query_params.get("older_than", "3"))
        limit = min(int(request.query_params.get("limit", "200")), 2000)
        return JSON({
            "payments": await payments.unresolved(self.pool, older_than, limit),
            "payouts": await self._payouts.unresolved(older_than, limit),
        })  # fmt: skip

    async def resolve_payment(self, request: Request) -> Response:
        """The reconciler reports what the bank says: debited, not_debited, expired or refunded."""
        payment_id = _uuid(request.path_params["id"])
        body = await read_json(request)
        outcome = field(body, "outcome", str)
        transitions = {
            "debited": (("PENDING", "UNKNOWN"), "SUCCEEDED"),
            "not_debited": (("PENDING", "UNKNOWN"), "FAILED"),
            "expired": (("PENDING", "UNKNOWN"), "FAILED"),  # debited too late, and refunded
            "refunded": (("REFUNDING",), "REFUNDED"),
        }
        if outcome not in transitions:
            raise BadRequest(f"outcome must be one of {', '.join(transitions)}, got {outcome!r}")
        source, target = transitions[outcome]
        moved = await payments.move(
            self.pool, payment_id, source=source, target=target,
            reason=field(body, "reason", str, default=None),
            bank_txn=field(body, "bank_txn", str, default=None),
        )  # fmt: skip
        current = moved or await payments.get(self.pool, payment_id)
        if current is None:
            return error(404, "no such payment")
        return JSON({"moved": moved is not None, "payment": current})

    async def resolve_payout(self, request: Request) -> Response:
        assert self._payouts is not None
        body = await read_json(request)
        outcome = field(body, "outcome", str)
        if outcome not in ("paid", "failed"):
            raise BadRequest(f"outcome must be 'paid' or 'failed', got {outcome!r}")
        payout = await self._payouts.resolve(
            _uuid(request.path_params["id"]), "PAID" if outcome == "paid" else "FAILED",
            field(body, "channel", str), field(body, "reason", str, default=None),
        )  # fmt: skip
        return JSON(payout)

    # -- admin: the promotion config ---------------------------------------------------
    async def get_promotion(self, request: Request) -> Response:
        return JSON({**self.promotion.as_json(), "caps": self.caps.as_json()})

    async def put_promotion(self, request: Request) -> Response:
        try:
            promo = parse_promotion(await read_json(request))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """UPDATE promotion
                   SET code = $1, percent = $2, applies_to = $3, updated_at = clock_timestamp()""",
                promo.code, promo.percent, promo.applies_to,
            )  # fmt: skip
            await conn.execute(
                "INSERT INTO promotion_changes (code, percent, applies_to) VALUES ($1, $2, $3)",
                promo.code, promo.percent, promo.applies_to,
            )  # fmt: skip
        self.promotion = promo
        if promo.percent > self.caps.max_percent:
            log.warning(
                "promotion of %s%% exceeds the %s%% cap; the cap applies",
                promo.percent,
                self.caps.max_percent,
            )
        return JSON({**promo.as_json(), "caps": self.caps.as_json()})


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        raise BadRequest(f"{text!r} is not a valid id", 404) from None
