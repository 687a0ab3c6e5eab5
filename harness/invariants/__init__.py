"""Invariants: built-in money checks, evidence sources, custom SQL and Python invariants, and their replay."""

from __future__ import annotations

from harness.invariants import _agreement, _builtin, _custom  # noqa: F401 - they register the built-ins
from harness.invariants._base import (
    REGISTRY,
    Evidence,
    EvidenceUnavailable,
    InvariantDef,
    RunWindow,
    Verdict,
    defaults,
    invariant,
    read_only,
)
from harness.invariants._checking import (
    Check,
    check_one,
    never_checked,
    settle,
    settle_window,
    verdict_line,
    verify,
)
from harness.invariants._coverage import Count, count
from harness.invariants._replay import Replay, replay_run
from harness.invariants._store import EvidenceStore

__all__ = [
    "REGISTRY",
    "Check",
    "Count",
    "Evidence",
    "EvidenceStore",
    "EvidenceUnavailable",
    "InvariantDef",
    "Replay",
    "RunWindow",
    "Verdict",
    "check_one",
    "count",
    "defaults",
    "invariant",
    "never_checked",
    "read_only",
    "replay_run",
    "settle",
    "settle_window",
    "verdict_line",
    "verify",
]
