"""Invariants: built-in money checks, evidence sources, custom SQL and Python invariants, and their replay."""

from __future__ import annotations

from paychaos.invariants import _agreement, _builtin, _custom  # noqa: F401 - they register the built-ins
from paychaos.invariants._base import (
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
from paychaos.invariants._checking import (
    Check,
    check_one,
    never_checked,
    settle,
    settle_window,
    verdict_line,
    verify,
)
from paychaos.invariants._coverage import Count, count
from paychaos.invariants._replay import Replay, replay_run
from paychaos.invariants._store import EvidenceStore
from paychaos.invariants._violations import Exported, Violators, export_violations

__all__ = [
    "REGISTRY",
    "Check",
    "Count",
    "Evidence",
    "EvidenceStore",
    "EvidenceUnavailable",
    "Exported",
    "InvariantDef",
    "Replay",
    "RunWindow",
    "Verdict",
    "Violators",
    "check_one",
    "count",
    "defaults",
    "export_violations",
    "invariant",
    "never_checked",
    "read_only",
    "replay_run",
    "settle",
    "settle_window",
    "verdict_line",
    "verify",
]
