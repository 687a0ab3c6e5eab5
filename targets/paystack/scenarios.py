"""paystack's load scenarios, named in target.yaml (``load.module``) and picked by weight.

Every request is one recorded client operation (see :mod:`paychaos.load`). An
order's idempotency key is ``order:<order id>``, the key the merchant uses
towards the gateway, so the history ties each client operation to the
payment and the ledger entries it caused.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from paychaos.load import Context, Reply
from paychaos_targets.paystack import signing

CUSTOMERS = 1000  # cust-00001 … as the bank seeds them
CREDIT_CUSTOMERS = 100  # credit-00001 …, each with a credit line of CREDIT_LIMIT
CREDIT_LIMIT = 500_000
POOR_CUSTOMERS = 100  # poor-00001 …: no money, no credit


def payment_of(body: Any) -> tuple[str | None, str | None]:
    """The payment (or payout) id and state an answer carries, for the history."""
    if not isinstance(body, dict):
        return None, None
    for key in ("payment", "payout"):
        item = body.get(key)
        if isinstance(item, dict) and "id" in item:
            return str(item["id"]), item.get("state")
    return None, None


def outcome_of(body: Any) -> str | None:
    """What an answer told the customer as final: the payment's result, or the order's when no payment."""
    if not isinstance(body, dict):
        return None
    payment, order = body.get("payment"), body.get("order")
    if isinstance(payment, dict) and "state" in payment:
        return {"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(str(payment["state"]))
    if isinstance(order, dict):
        return {"PAID": "succeeded", "FAILED": "failed"}.get(str(order.get("state")))
    return None


def _checkout(ctx: Context, kind: str, account: str, amount: int) -> tuple[str, Reply]:
    order = ctx.unique("order")
    reply = ctx.request(
        kind, "POST", "/checkout", json={"order_id": order, "account": account, "amount": amount},
        order_id=order, key=f"order:{order}", amount=amount,
    )  # fmt: skip
    return order, reply


def pay(ctx: Context) -> None:
    """A customer checks out and pays from their balance."""
    _checkout(ctx, "pay", f"cust-{ctx.random.randint(1, CUSTOMERS):05d}", ctx.random.randint(100, 50_000))


def _settled(reply: Reply) -> bool:
    """The customer saw a final answer: paid or declined (not silence, 'still paying' or 'unknown')."""
    if reply.unknown or reply.status == 503:
        return False  # silence, or "busy, try again"
    if not reply.ok:
        return True  # refused: tapping again will not help
    return (reply.body.get("payment") or {}).get("state") in ("SUCCEEDED", "FAILED")  # 202: no payment yet


def pay_retry(ctx: Context) -> None:
    """Checkout; with no final answer (silence, 'still paying', 'unknown'), the customer taps pay again."""
    amount = ctx.random.randint(100, 50_000)
    order, reply = _checkout(ctx, "pay", f"cust-{ctx.random.randint(1, CUSTOMERS):05d}", amount)
    for _ in range(2):
        if _settled(reply):
            return
        time.sleep(ctx.random.uniform(0.5, 1.5))  # a person, looking at a spinner
        reply = ctx.request("pay_retry", "POST", f"/orders/{order}/pay", order_id=order, key=f"order:{order}",
                            amount=amount)  # fmt: skip


def pay_conflict(ctx: Context) -> None:
    """A client bug: the same order id sent again with another amount. The shop must refuse it."""
    amount = ctx.random.randint(100, 50_000)
    order, reply = _checkout(ctx, "pay", f"cust-{ctx.random.randint(1, CUSTOMERS):05d}", amount)
    if reply.ok:
        ctx.request(
            "pay_conflict", "POST", "/checkout",
            json={"order_id": order, "account": "cust-00001", "amount": amount + 1},
            order_id=order, key=f"order:{order}", amount=amount + 1, expect=(409,),
        )  # fmt: skip


def credit_pay(ctx: Context) -> None:
    """A customer pays on credit (Fenfu): the balance may go down to minus the credit line."""
    _checkout(ctx, "credit_pay", f"credit-{ctx.random.randint(1, CREDIT_CUSTOMERS):05d}",
              ctx.random.randint(100, 20_000))  # fmt: skip


def credit_rush(ctx: Context) -> None:
    """Many large credit payments on a handful of accounts: their credit lines run out under concurrency."""
    _checkout(ctx, "credit_pay", f"credit-{ctx.random.randint(1, 5):05d}", ctx.random.randint(20_000, 80_000))


def pay_declined(ctx: Context) -> None:
    """A payment the bank must decline: an empty account, or a credit payment beyond the credit line."""
    if ctx.random.random() < 0.5:
        account, amount = f"poor-{ctx.random.randint(1, POOR_CUSTOMERS):05d}", ctx.random.randint(100, 50_000)
    else:
        account = f"credit-{ctx.random.randint(1, CREDIT_CUSTOMERS):05d}"
        amount = CREDIT_LIMIT + ctx.random.randint(1, 100_000)
    _checkout(ctx, "pay_declined", account, amount)


def forged_notification(ctx: Context) -> None:
    """Pay from an empty account, then forge the "payment succeeded" the shop waits for, six ways.

    Unsigned; signed with a guessed key; correctly signed an hour ago (stale); dated
    tomorrow; an hour-old signature sent with a fresh timestamp (a captured notification
    replayed with its time rewritten); and a genuine signature lifted from another body.
    The shop must refuse every one, and never mark the order paid or ship it.
    """
    order, _ = _checkout(ctx, "pay_declined", f"poor-{ctx.random.randint(1, POOR_CUSTOMERS):05d}",
                         ctx.random.randint(100, 50_000))  # fmt: skip
    secret = signing.shared_secret()
    now = time.time()
    for how in ("unsigned", "guessed key", "stale", "dated tomorrow", "fresh timestamp", "lifted signature"):
        claim = str(uuid.UUID(int=ctx.random.getrandbits(128), version=4))
        body = orjson.dumps({
            "event_id": str(uuid.UUID(int=ctx.random.getrandbits(128), version=4)),
            "type": "payment.succeeded", "payment_id": claim, "order_id": order, "state": "SUCCEEDED",
            "reason": None, "forgery": how,
        })  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if how == "guessed key":
            headers[signing.HEADER] = signing.sign(body, b"guessed-" + secret[:4])
        elif how == "stale":
            headers[signing.HEADER] = signing.sign(body, secret, now=now - 3600)
        elif how == "dated tomorrow":
            headers[signing.HEADER] = signing.sign(body, secret, now=now + 86_400)
        elif how == "fresh timestamp":
            captured = signing.sign(body, secret, now=now - 3600)
            headers[signing.HEADER] = f"t={int(now)}," + captured.split(",", 1)[1]
        elif how == "lifted signature":
            headers[signing.HEADER] = signing.sign(body.replace(b"SUCCEEDED", b"FAILED"), secret, now=now)
        ctx.request("forged_notification", "POST", "/webhooks/payments", data=body, headers=headers,
                    order_id=order, payment_id=claim, expect=(400, 401, 403), forged=True)  # fmt: skip


def refund(ctx: Context) -> None:
    """Pay, wait for the merchant to see the order paid, then ask for the money back."""
    amount = ctx.random.randint(100, 50_000)
    order, reply = _checkout(ctx, "pay", f"cust-{ctx.random.randint(1, CUSTOMERS):05d}", amount)
    if not reply.ok or (reply.body.get("payment") or {}).get("state") != "SUCCEEDED":
        return
    for _ in range(10):
        status = ctx.request("order", "GET", f"/orders/{order}", order_id=order)
        if status.ok and status.body["order"]["state"] == "PAID":
            ctx.request("refund", "POST", f"/orders/{order}/refund", order_id=order, key=f"refund:{order}",
                        amount=amount)  # fmt: skip
            return
        time.sleep(0.2)  # the notification is on its way; cooperative under Locust's gevent


def payout(ctx: Context) -> None:
    """The merchant withdraws to a supplier; now and then a client bug sends the same payout id again
    with another amount, which must be refused, never paid nor answered with the first payout."""
    payout_id = ctx.unique("payout")
    amount = ctx.random.randint(100, 5_000)
    reply = ctx.request(
        "payout", "POST", "/payouts", json={"payout_id": payout_id, "amount": amount, "payee": "supplier"},
        key=f"payout:{payout_id}", amount=amount,
    )  # fmt: skip
    if reply.ok and ctx.random.random() < 0.1:
        ctx.request(
            "payout_conflict", "POST", "/payouts",
            json={"payout_id": payout_id, "amount": amount + 1, "payee": "supplier"},
            key=f"payout:{payout_id}", amount=amount + 1, expect=(409,),
        )  # fmt: skip


SCENARIOS = {
    "pay": pay,
    "pay_retry": pay_retry,
    "pay_conflict": pay_conflict,
    "credit_pay": credit_pay,
    "credit_rush": credit_rush,
    "pay_declined": pay_declined,
    "forged_notification": forged_notification,
    "refund": refund,
    "payout": payout,
}
