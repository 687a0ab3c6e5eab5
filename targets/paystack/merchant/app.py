"""merchant's HTTP API: the shop's front door and its webhook.

POST /checkout                create an order and pay it (the common path)
POST /orders                  create an order without paying it yet
POST /orders/{id}/pay         pay (or retry paying) an order
GET  /orders/{id}
POST /orders/{id}/refund      refund a paid order
POST /payouts                 withdraw the merchant's money to a payee
POST /webhooks/payments       signed result notifications from the notifier
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from paychaos_targets.paystack import signing
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
from paychaos_targets.paystack.merchant import orders
from paychaos_targets.paystack.merchant.paying import Job, Payer, PayerConfig


@dataclass(frozen=True)
class MerchantSettings(Settings):
    gateway_url: str
    gateway_timeout: float
    pay_workers: int
    queue_size: int
    respond_within: float
    backoff_max: float

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--gateway-url", required=True)
        parser.add_argument("--gateway-timeout", type=float, default=2.0, help="seconds per payment call")
        parser.add_argument("--pay-workers", type=int, default=64, help="payments in flight at once")
        parser.add_argument("--queue-size", type=int, default=256, help="accepted orders waiting to be paid")
        parser.add_argument(
            "--respond-within",
            type=float,
            default=5.0,
            help="seconds a checkout waits for the payment before answering 202",
        )
        parser.add_argument("--backoff-max", type=float, default=2.0, help="longest pause between retries")


class Merchant(Service):
    name = "merchant"
    evidence = ("orders", "webhook_receipts", "fulfilments")
    settings: MerchantSettings

    def __init__(self, settings: MerchantSettings) -> None:
        super().__init__(settings)
        self.secret = signing.shared_secret()
        self._payer: Payer | None = None

    @property
    def payer(self) -> Payer:
        assert self._payer is not None
        return self._payer

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/checkout", self.checkout, methods=["POST"]),
            Route("/orders", self.create_order, methods=["POST"]),
            Route("/orders/{id}", self.get_order),
            Route("/orders/{id}/pay", self.pay, methods=["POST"]),
            Route("/orders/{id}/refund", self.refund, methods=["POST"]),
            Route("/payouts", self.payout, methods=["POST"]),
            Route("/webhooks/payments", self.webhook, methods=["POST"]),
        ]

    async def started(self) -> None:
        s = self.settings
        self._payer = Payer(
            self.pool,
            self.http,
            PayerConfig(
                gateway_url=s.gateway_url,
                timeout=s.gateway_timeout,
                workers=s.pay_workers,
                queue_size=s.queue_size,
                backoff_max=s.backoff_max,
                drop_on_overload="drop-on-overload" in self.defects,
                new_key_per_retry="retry-new-key" in self.defects,
            ),
        )
        await self.payer.recover()

    def background(self) -> list[Any]:
        return self.payer.workers()

    # -- orders ----------------------------------------------------------------------
    async def checkout(self, request: Request) -> Response:
        body = await read_json(request)
        if "drop-on-overload" in self.defects:
            return await self._checkout_in_memory(body)
        if not self.payer.admit():
            return error(503, "shop is at capacity; retry later")
        try:
            order, _ = await self._create(body, state="PAYING")
        except BaseException:
            self.payer.release()
            raise
        if order["state"] != "PAYING":  # the same checkout again, already settled
            self.payer.release()
            return JSON({"order": order, "payment": None})
        return await self._answer(order, self.payer.submit(order, reserved=True))

    async def _checkout_in_memory(self, body: dict[str, Any]) -> Response:
        """Defect: accept the order into memory only; the job writes it, if it ever runs."""
        order_id = field(body, "order_id", str, default=None) or uuid.uuid4().hex
        account, amount = field(body, "account", str), field(body, "amount", int, positive=True)
        promo = field(body, "promo_code", str, default=None)
        public = {
            "id": order_id,
            "account": account,
            "amount": amount,
            "promo_code": promo,
            "state": "PAYING",
        }
        digest = fingerprint(account=account, amount=amount, promo_code=promo)
        job = self.payer.submit({**public, "in_memory": True, "request_hash": digest}, reserved=False)
        if job is None:  # dropped: nothing anywhere remembers this order now
            return JSON({"order": public, "payment": None}, status_code=202)
        return await self._answer(public, job)

    async def create_order(self, request: Request) -> Response:
        order, created = await self._create(await read_json(request), state="CREATED")
        return JSON({"order": order}, status_code=201 if created else 200)

    async def pay(self, request: Request) -> Response:
        order_id = request.path_params["id"]
        order = await orders.update(self.pool, order_id, only_from=("CREATED",), state="PAYING")
        if order is None:
            order = await orders.get(self.pool, order_id)
            if order is None:
                return error(404, f"no order {order_id!r}")
            if order["state"] != "PAYING":
                return JSON({"order": order, "payment": None})
        if not self.payer.admit():
            return error(503, "shop is at capacity; retry later")
        return await self._answer(order, self.payer.submit(order, reserved=True))

    async def get_order(self, request: Request) -> Response:
        order = await orders.get(self.pool, request.path_params["id"])
        return JSON({"order": order}) if order else error(404, "no such order")

    async def _create(self, body: dict[str, Any], *, state: str) -> tuple[dict[str, Any], bool]:
        order_id = field(body, "order_id", str, default=None) or uuid.uuid4().hex
        account = field(body, "account", str)
        amount = field(body, "amount", int, positive=True)
        promo = field(body, "promo_code", str, default=None)
        digest = fingerprint(account=account, amount=amount, promo_code=promo)
        try:
            return await orders.create(self.pool, order_id, digest, account, amount, promo, state)
        except orders.OrderConflict as exc:
            raise BadRequest(str(exc), 409, order=exc.existing) from None

    async def _answer(self, order: dict[str, Any], job: Job | None) -> Response:
        """200 with the payment once the gateway answered; 202 while the order is still being paid."""
        if job is not None:
            done, _ = await asyncio.wait({job}, timeout=self.settings.respond_within)
            if done:
                return JSON(job.result())
        current = await orders.get(self.pool, order["id"]) or order
        return JSON({"order": current, "payment": None}, status_code=202)

    async def refund(self, request: Request) -> Response:
        order_id = request.path_params["id"]
        order = await orders.get(self.pool, order_id)
        if order is None:
            return error(404, f"no order {order_id!r}")
        if order["state"] not in ("PAID", "REFUNDING") or order["payment_id"] is None:
            return error(409, f"only a paid order can be refunded; this one is {order['state']}")
        await orders.update(self.pool, order_id, only_from=("PAID",), state="REFUNDING")
        url = f"{self.settings.gateway_url}/payments/{order['payment_id']}/refund"
        try:
            reply = await self.http.call("POST", url, timeout=self.settings.gateway_timeout)
        except CallFailed as exc:
            return error(504, f"gateway did not answer: {exc}; retry the refund", order_id=order_id)
        return JSON(
            {"order": await orders.get(self.pool, order_id), "payment": reply.body},
            status_code=reply.status,
        )

    async def payout(self, request: Request) -> Response:
        body = await read_json(request)
        payout_id = field(body, "payout_id", str, default=None) or uuid.uuid4().hex
        request_body = {
            "amount": field(body, "amount", int, positive=True),
            "payee": field(body, "payee", str),
        }
        try:
            reply = await self.http.call(
                "POST", f"{self.settings.gateway_url}/payouts", json=request_body,
                headers={"Idempotency-Key": f"payout:{payout_id}"}, timeout=self.settings.gateway_timeout * 3,
            )  # fmt: skip
        except CallFailed as exc:
            return error(
                504,
                f"gateway did not answer: {exc}; retry with the same payout_id",
                payout_id=payout_id,
            )
        return JSON({"payout_id": payout_id, "payout": reply.body}, status_code=reply.status)

    # -- notifications -----------------------------------------------------------------
    async def webhook(self, request: Request) -> Response:
        raw = await request.body()
        signature = request.headers.get(signing.HEADER)
        if signature is None and "webhook-accepts-unsigned" in self.defects:
            pass  # defect: only a signature that is there gets checked; none at all is taken on trust
        elif not signing.verify(raw, signature, self.secret):
            return error(401, "bad or missing signature")
        try:
            event = orjson.loads(raw)
            for name in ("event_id", "payment_id"):
                uuid.UUID(event[name])
            if event["type"] not in orders.EVENT_TYPES or not isinstance(event["order_id"], str):
                raise ValueError(event["type"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return error(400, "not a payment event")
        idempotent = "webhook-not-idempotent" not in self.defects
        first, _ = await orders.receive_event(self.pool, event, idempotent=idempotent)
        return JSON({"received": True, "duplicate": not first})
