"""Load: Locust driving a target's scenarios, shaped like peak traffic, with a history of every operation.

This package never imports Locust itself; only :mod:`harness.load.locustfile`
does, inside the Locust subprocess.
"""

from __future__ import annotations

from harness.load._arrivals import arrival_times, rate_at
from harness.load._history import (
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
from harness.load._locust import LOCUSTFILE, LocustProcess
from harness.load._scenario import Context, Reply
from harness.load._shapes import users_at

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
