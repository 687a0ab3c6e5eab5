"""Load: Locust driving a target's scenarios, shaped like peak traffic, with a history of every operation.

This package never imports Locust itself; only :mod:`harness.load.locustfile`
does, inside the Locust subprocess.
"""

from __future__ import annotations

from harness.load._history import UNKNOWN, HistoryTail, HistoryWriter, LiveStats, Window, read_history
from harness.load._locust import LOCUSTFILE, LocustProcess
from harness.load._scenario import Context, Reply
from harness.load._shapes import users_at

__all__ = [
    "LOCUSTFILE",
    "UNKNOWN",
    "Context",
    "HistoryTail",
    "HistoryWriter",
    "LiveStats",
    "LocustProcess",
    "Reply",
    "Window",
    "read_history",
    "users_at",
]
