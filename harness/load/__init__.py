"""Load: Locust driving a target's scenarios, shaped like peak traffic, with a history of every operation.

A target's scenarios are HTTP steps in its ``target.yaml`` (no Python needed; see
``harness/load/_steps.py`` for what they send and record), or Python functions in the
module ``load.module`` names. A Python scenario module imports what it is written
against from here, never from the private modules::

    from paychaos.load import Context, Reply

    def pay(ctx: Context) -> None:
        order = ctx.unique("order")
        reply: Reply = ctx.request("pay", "POST", "/checkout", json={"order_id": order},
                                   order_id=order, key=f"order:{order}", amount=1200)

This package never imports Locust itself; only :mod:`paychaos.load.locustfile`
does, inside the Locust subprocess.
"""

from __future__ import annotations

from paychaos.load._arrivals import arrival_times, rate_at
from paychaos.load._history import (
    UNKNOWN,
    Arrivals,
    HistoryTail,
    HistoryWriter,
    LiveStats,
    Window,
    arrival_totals,
    latency,
    read_arrivals,
    read_history,
)
from paychaos.load._locust import LOCUSTFILE, LocustProcess
from paychaos.load._scenario import Context, Reply
from paychaos.load._shapes import users_at

__all__ = [
    "LOCUSTFILE",
    "UNKNOWN",
    "Arrivals",
    "Context",
    "HistoryTail",
    "HistoryWriter",
    "LiveStats",
    "LocustProcess",
    "Reply",
    "Window",
    "arrival_times",
    "arrival_totals",
    "latency",
    "rate_at",
    "read_arrivals",
    "read_history",
    "users_at",
]
