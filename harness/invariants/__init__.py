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
)
from harness.invariants._replay import Replay, replay_run
from harness.invariants._store import EvidenceStore

__all__ = [
    "REGISTRY",
    "Evidence",
    "EvidenceStore",
    "EvidenceUnavailable",
    "InvariantDef",
    "Replay",
    "RunWindow",
    "Verdict",
    "defaults",
    "invariant",
    "replay_run",
]
