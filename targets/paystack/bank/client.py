"""Finding out what the bank did under an idempotency key, for the services that call it.

A caller whose request timed out does not know whether it landed. It asks:
if the bank has the key, that is the answer; if not, it voids the key, so a
copy of the request still on its way is refused, and the answer is "voided"
— definitely not done. Gateway (payouts) and reconciler (payments, payouts)
both settle their unknowns this way.
"""

from __future__ import annotations

from typing import Any, Literal

from paychaos_targets.paystack._http import CallFailed, Http, Reply

Status = Literal["posted", "declined", "voided"]


def debit_key(payment_id: object) -> str:
    """The bank key of a payment's debit: the gateway debits, the reconciler asks, under it."""
    return f"pay:{payment_id}"


def refund_key(payment_id: object) -> str:
    return f"refund:{payment_id}"


async def refund(http: Http, bank_url: str, payment: dict[str, Any], *, timeout: float) -> Reply:
    """Refund a payment's debit in full under its refund key (safe to repeat).

    201/200: refunded now or before; 404: nothing was debited; 409: already
    refunded under another key. Raises CallFailed when the bank did not answer.
    """
    body = {
        "key": refund_key(payment["id"]),
        "debit_key": debit_key(payment["id"]),
        "amount": payment["charged"],
    }
    return await http.call("POST", f"{bank_url}/refunds", json=body, timeout=timeout)


async def settle_key(
    http: Http, *, status_url: str, void_url: str, timeout: float
) -> tuple[Status, dict[str, Any]]:
    """Return the key's final status and its transaction; raise CallFailed if the bank can't say."""
    reply = await http.call("GET", status_url, timeout=timeout)
    if reply.status == 404:
        reply = await http.call("POST", void_url, timeout=timeout)
    body = reply.body if isinstance(reply.body, dict) else {}
    txn = body.get("transaction") if reply.status == 409 else body
    status = (txn or {}).get("status")
    if status not in ("posted", "declined", "voided"):
        raise CallFailed("connection", status_url, f"bank answered {reply.status}: {reply.body}")
    return status, txn or {}
