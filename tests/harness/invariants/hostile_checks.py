"""Custom Python invariants that misbehave the ways user code does: each must end as could_not_check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from paychaos.invariants import Evidence, Verdict


def exits_0(evidence: Evidence) -> list[dict[str, Any]]:
    sys.exit(0)


def os_exits_0(evidence: Evidence) -> list[dict[str, Any]]:
    os._exit(0)


def raises(evidence: Evidence) -> list[dict[str, Any]]:
    raise ValueError("the ledger is haunted")


def loops(evidence: Evidence, started: str = "", helper: str = "") -> list[dict[str, Any]]:
    """Loop forever; ``helper``: first start a process (its pid written there) that outlives us unless killed."""
    if helper:
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        Path(helper).write_text(str(sleeper.pid))
    if started:
        Path(started).write_text(str(os.getpid()))
    while True:
        pass


def kills_itself(evidence: Evidence) -> list[dict[str, Any]]:
    os.kill(os.getpid(), signal.SIGKILL)
    return []


def returns_an_object(evidence: Evidence) -> object:
    return object()


def returns_rows_of_objects(evidence: Evidence) -> list[dict[str, Any]]:
    return [{"account": "a", "balance": object()}]


def balances(evidence: Evidence, least: int) -> Verdict:
    """A Verdict of its own, with the evidence database's types (numeric, timestamptz) in its examples."""
    rows = evidence.sql(
        "SELECT id, balance::numeric AS balance, now() AS at FROM accounts WHERE balance < $1 ORDER BY id",
        least,
    )
    if not rows:
        return Verdict("balances", "holds", checked=1)
    return Verdict("balances", "violated", count=len(rows), examples=rows, reason="below the floor")


def returns_a_malformed_verdict(evidence: Evidence) -> Verdict:
    return Verdict("odd", "violated", count=1.5, checked="3")  # type: ignore[arg-type]
