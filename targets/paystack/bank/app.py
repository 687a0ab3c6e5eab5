"""bank's HTTP API: debits, refunds, payouts per channel, status and void by key.

Every money-moving request carries a ``key``. The same key with the same body
is answered with the stored result (``Idempotent-Replayed: true``); the same key
with another body is refused with 409. ``GET`` on a key tells what happened to
it; ``void`` / ``cancel`` makes sure a request still in flight can no longer land.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

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
from paychaos_targets.paystack.bank import ledger
from paychaos_targets.paystack.bank.ledger import Entry, LedgerError, Leg, NewAccount

CHANNELS = ("a", "b")
MERCHANT = "merchant"


@dataclass(frozen=True)
class BankSettings(Settings):
    customers: int
    opening_balance: int
    credit_customers: int
    credit_limit: int
    poor_customers: int
    merchant_opening: int

    @staticmethod
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--customers", type=int, default=1000, help="cust-00001… accounts")
        parser.add_argument("--opening-balance", type=int, default=100_000_000)
        parser.add_argument("--credit-customers", type=int, default=100, help="credit-00001…")
        parser.add_argument("--credit-limit", type=int, default=500_000)
        parser.add_argument(
            "--poor-customers", type=int, default=100, help="poor-00001…: no money and no credit line"
        )
        parser.add_argument("--merchant-opening", type=int, default=10_000_000_000)


class Bank(Service):
    name = "bank"
    evidence = ("accounts", "transactions", "postings", "payouts")
    settings: BankSettings

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/accounts", self.create_account, methods=["POST"]),
            Route("/accounts/{id}", self.get_account),
            Route("/debits", self.debit, methods=["POST"]),
            Route("/refunds", self.refund, methods=["POST"]),
            Route("/transactions/{key:path}/void", self.void, methods=["POST"]),
            Route("/transactions/{key:path}", self.status),
            Route("/channels/{channel}/payouts", self.payout, methods=["POST"]),
            Route("/channels/{channel}/payouts/{key:path}/cancel", self.cancel, methods=["POST"]),
            Route("/channels/{channel}/payouts/{key:path}", self.payout_status),
        ]

    async def started(self) -> None:
        s = self.settings
        accounts = [
            NewAccount(MERCHANT, "merchant", s.merchant_opening),
            *(NewAccount(f"channel-{c}", "channel") for c in CHANNELS),
            *(NewAccount(f"cust-{i:05d}", "customer", s.opening_balance) for i in range(1, s.customers + 1)),
            *(NewAccount(f"credit-{i:05d}", "customer", 0, s.credit_limit)
              for i in range(1, s.credit_customers + 1)),
            *(NewAccount(f"poor-{i:05d}", "customer") for i in range(1, s.poor_customers + 1)),
        ]  # fmt: skip
        async with self.pool.acquire() as conn:
            await ledger.open_accounts(conn, accounts)

    # -- accounts ----------------------------------------------------------------
    async def create_account(self, request: Request) -> Response:
        body = await read_json(request)
        account = NewAccount(
            id=field(body, "id", str),
            kind=field(body, "kind", str, default="customer"),
            opening=field(body, "balance", int, default=0),
            credit_limit=field(body, "credit_limit", int, default=0),
        )
        if account.kind not in ("customer", "merchant"):
            raise BadRequest("kind must be 'customer' or 'merchant'")
        if account.opening < 0 or account.credit_limit < 0:
            raise BadRequest("balance and credit_limit must not be negative")
        async with self.pool.acquire() as conn:
            created = await ledger.open_accounts(conn, [account])
        if not created:
            return error(409, f"account {account.id!r} already exists")
        return await self._account(account.id, 201)

    async def get_account(self, request: Request) -> Response:
        return await self._account(request.path_params["id"], 200)

    async def _account(self, account_id: str, status: int) -> Response:
        row = await self.pool.fetchrow(
            "SELECT id, kind, balance, credit_limit FROM accounts WHERE id = $1", account_id
        )
        if row is None:
            return error(404, f"no account {account_id!r}")
        return JSON(dict(row), status_code=status)

    # -- money movements -----------------------------------------------------------
    async def debit(self, request: Request) -> Response:
        body = await read_json(request)
        key = field(body, "key", str)
        account = field(body, "account", str)
        amount = field(body, "amount", int, positive=True)
        reference = field(body, "reference", str, default=None)
        entry = Entry(
            "bank", key, "debit", fingerprint(account=account, amount=amount, reference=reference),
            account, amount, reference,
        )  # fmt: skip
        legs = [Leg(account, -amount), Leg(MERCHANT, amount)]
        guard: str | None = account
        if "credit-check-race" in self.defects:
            # Defect: check the credit line on a plain read, then debit without the
            # guard. Concurrent debits all read the same balance and all pass.
            row = await self.pool.fetchrow(
                "SELECT balance, credit_limit FROM accounts WHERE id = $1", account
            )
            fits = row is not None and row["balance"] - amount >= -row["credit_limit"]
            guard = None if fits else account
        return await self._post(entry, legs, guard=guard)

    async def refund(self, request: Request) -> Response:
        body = await read_json(request)
        key = field(body, "key", str)
        debit_key = field(body, "debit_key", str)
        debit = await ledger.find(self.pool, "bank", debit_key)
        if debit is None or debit["kind"] != "debit" or debit["status"] != "posted":
            return error(404, f"no posted debit with key {debit_key!r}")
        amount = field(body, "amount", int, default=debit["amount"], positive=True)
        if amount > debit["amount"]:
            raise BadRequest(f"refund of {amount} exceeds the debit of {debit['amount']}")
        entry = Entry(
            "bank", key, "refund", fingerprint(debit_key=debit_key, amount=amount),
            debit["account"], amount, debit["reference"], debit_key,
        )  # fmt: skip
        legs = [Leg(MERCHANT, -amount), Leg(debit["account"], amount)]
        return await self._post(entry, legs, guard=None)

    async def payout(self, request: Request) -> Response:
        channel = self._channel(request)
        body = await read_json(request)
        key = field(body, "key", str)
        account = field(body, "account", str, default=MERCHANT)
        amount = field(body, "amount", int, positive=True)
        payee = field(body, "payee", str)
        reference = field(body, "reference", str, default=key)
        entry = Entry(
            f"channel-{channel}", key, "payout",
            fingerprint(account=account, amount=amount, payee=payee, reference=reference),
            account, amount, reference,
        )  # fmt: skip
        legs = [Leg(account, -amount), Leg(f"channel-{channel}", amount)]
        return await self._post(entry, legs, guard=account)

    async def _post(self, entry: Entry, legs: list[Leg], *, guard: str | None) -> Response:
        try:
            txn, replayed = await ledger.post(self.pool, entry, legs, guard=guard)
        except LedgerError as exc:
            return error(exc.status, str(exc), transaction=exc.txn)
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSON(txn, status_code=200 if replayed else 201, headers=headers)

    # -- outcome by key ----------------------------------------------------------------
    async def status(self, request: Request) -> Response:
        return await self._status("bank", request.path_params["key"])

    async def payout_status(self, request: Request) -> Response:
        return await self._status(f"channel-{self._channel(request)}", request.path_params["key"])

    async def void(self, request: Request) -> Response:
        return await self._void("bank", request.path_params["key"])

    async def cancel(self, request: Request) -> Response:
        return await self._void(f"channel-{self._channel(request)}", request.path_params["key"])

    async def _status(self, scope: str, key: str) -> Response:
        txn = await ledger.find(self.pool, scope, key)
        if txn is None:
            return error(404, f"nothing known under key {key!r}", key=key)
        return JSON(txn)

    async def _void(self, scope: str, key: str) -> Response:
        txn, voided_now = await ledger.void(self.pool, scope, key)
        if txn["status"] == "posted":
            return error(409, f"key {key!r} is already posted; it cannot be voided", transaction=txn)
        return JSON(txn, status_code=201 if voided_now else 200)

    @staticmethod
    def _channel(request: Request) -> str:
        channel = str(request.path_params["channel"])
        if channel not in CHANNELS:
            raise BadRequest(f"unknown payout channel {channel!r}; channels are a, b", 404)
        return channel
