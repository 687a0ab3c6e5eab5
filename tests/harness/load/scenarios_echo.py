"""A scenario module for the Locust tests: one request per scenario against tests' echo server."""

from __future__ import annotations

from typing import Any

from paychaos.load import Context


def payment_of(body: Any) -> tuple[str | None, str | None]:
    return (body.get("id"), body.get("state")) if isinstance(body, dict) else (None, None)


def ok(ctx: Context) -> None:
    order = ctx.unique("order")
    ctx.request(
        "ok",
        "POST",
        "/ok",
        json={"order": order},
        order_id=order,
        key=f"k:{order}",
        amount=ctx.random.randint(1, 99),
    )


def refused(ctx: Context) -> None:
    ctx.request("refused", "POST", "/refuse", expect=(409,))


def slow(ctx: Context) -> None:
    ctx.request("slow", "POST", "/slow")


def cut(ctx: Context) -> None:
    ctx.request("cut", "POST", "/cut")


SCENARIOS = {"ok": ok, "refused": refused, "slow": slow, "cut": cut}
